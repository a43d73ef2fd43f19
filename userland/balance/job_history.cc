#include "balance/job_history.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "common/json_fields.h"

namespace grappe {
namespace {

std::string base_name(const std::string& s) {
  auto slash = s.find_last_of('/');
  return slash == std::string::npos ? s : s.substr(slash + 1);
}

bool wrapper(const std::string& b) {
  static const char* names[] = {"sh", "bash", "dash", "zsh", "env", "nice", "nohup", "time", "taskset", "ionice",
                                "python", "python3", "perl", "ruby", "node", "Rscript", "octave"};
  for (const char* n : names)
    if (b == n || (b.rfind(n, 0) == 0 && b.size() > std::string(n).size() && b[std::string(n).size()] == '.'))
      return true;
  return false;
}

double lower_quartile(std::vector<double> v) {  // nearest rank: the shortest of 1–4, 2nd of 5–8, …
  std::sort(v.begin(), v.end());
  return v[(v.size() - 1) / 4];
}

bool valid_work(double w) { return std::isfinite(w) && w > 0 && w < 1e8; }

}  // namespace

std::string command_key(const std::vector<std::string>& argv) {
  if (argv.empty()) return "?";
  std::string key = base_name(argv[0]);
  if (wrapper(key))
    for (size_t i = 1; i < argv.size(); ++i) {
      const std::string& a = argv[i];
      if (a.empty() || a[0] == '-') continue;
      std::string word = a.substr(0, a.find_first_of(" \t\n"));
      key += " " + base_name(word);
      break;
    }
  if (key.size() > 200) key.resize(200);
  return key;
}

void JobHistory::add(const std::string& key, double work_s) {
  Entry& e = by_[key];
  e.runs.push_back(work_s);
  while (e.runs.size() > kRuns) e.runs.pop_front();
  e.used = ++seq_;
  while (by_.size() > kCommands) {
    auto oldest = std::min_element(by_.begin(), by_.end(), [](auto& a, auto& b) { return a.second.used < b.second.used; });
    by_.erase(oldest);
  }
}

void JobHistory::record(const std::string& key, double work_s) {
  if (!key.empty() && key.size() <= 200 && valid_work(work_s)) add(key, work_s);
}

size_t JobHistory::runs(const std::string& key) const {
  auto it = by_.find(key);
  return it == by_.end() ? 0 : it->second.runs.size();
}

double JobHistory::left(const std::string& key, double done_s) const {
  auto it = by_.find(key);
  if (it == by_.end() || it->second.runs.size() < kMinRuns) return -1;
  done_s = std::max(0.0, done_s);
  std::vector<double> ahead;
  double longest = 0;
  for (double w : it->second.runs) {
    longest = std::max(longest, w);
    if (w > done_s) ahead.push_back(w - done_s);
  }
  if (!ahead.empty()) return lower_quartile(std::move(ahead));
  return done_s <= 1.5 * longest ? 0 : -1;
}

std::string JobHistory::dump() const {
  std::vector<std::pair<uint64_t, const std::string*>> order;
  for (const auto& [k, e] : by_) order.push_back({e.used, &k});
  std::sort(order.begin(), order.end());
  nlohmann::json cmds = nlohmann::json::array();
  for (const auto& [used, k] : order) {
    (void)used;
    const Entry& e = by_.at(*k);
    cmds.push_back({{"cmd", *k}, {"runs", std::vector<double>(e.runs.begin(), e.runs.end())}});
  }
  return dump_safe({{"v", 1}, {"commands", cmds}}) + "\n";
}

std::string JobHistory::load(const std::string& text) {
  by_.clear();
  seq_ = 0;
  if (text.size() > (1 << 20)) return "larger than 1 MiB";
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "not a JSON object";
  Fields f(j, "history");
  f.integer("v", 1, 1, 1, Need::Required);
  nlohmann::json cmds = f.array("commands", Need::Required);
  if (!f.ok()) return f.error();
  std::string why;
  for (const auto& c : cmds) {  // least recently recorded first
    Fields e(c, "history command");
    std::string key = e.str("cmd", "", Need::Required, 200);
    nlohmann::json runs = e.array("runs", Need::Required);
    if (!e.ok() || key.empty()) {
      if (why.empty()) why = e.ok() ? "history command: empty \"cmd\"" : e.error();
      continue;
    }
    for (const auto& r : runs) {
      if (r.is_number() && valid_work(r.get<double>())) add(key, r.get<double>());
      else if (why.empty()) why = "history command \"" + key + "\": a run that is not a positive number";
    }
  }
  return why;
}

std::string JobHistory::load_file(const TextStore& store, const std::string& path) {
  auto text = store.read(path);
  if (!text) {
    by_.clear();
    return "";
  }
  std::string why = load(*text);
  return why.empty() ? "" : path + ": " + why;
}

std::string JobHistory::save_file(TextStore& store, const std::string& path) const { return store.write(path, dump()); }

}  // namespace grappe
