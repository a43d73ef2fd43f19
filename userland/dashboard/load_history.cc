#include "dashboard/load_history.h"

#include <algorithm>

namespace grappe {

void LoadHistory::add(const std::string& name, const LoadSample& s) {
  auto it = by_.find(name);
  if (it == by_.end()) {
    if (by_.size() >= kNodes) {
      auto oldest = std::min_element(by_.begin(), by_.end(),
                                     [](const auto& a, const auto& b) { return a.second.last < b.second.last; });
      by_.erase(oldest);
    }
    it = by_.emplace(name, Ring{}).first;
  }
  Ring& r = it->second;
  if (s.t <= r.last) return;
  r.last = s.t;
  if (r.buf.size() < kKeep) {
    r.buf.push_back(s);
    return;
  }
  r.buf[r.next] = s;
  r.next = (r.next + 1) % kKeep;
}

std::vector<LoadSample> LoadHistory::series(const std::string& name, double since) const {
  std::vector<LoadSample> out;
  auto it = by_.find(name);
  if (it == by_.end()) return out;
  const Ring& r = it->second;
  const size_t n = r.buf.size(), start = n < kKeep ? 0 : r.next;
  for (size_t i = 0; i < n; ++i) {
    const LoadSample& s = r.buf[(start + i) % n];
    if (s.t > since) out.push_back(s);
  }
  return out;
}

nlohmann::json LoadHistory::to_json(double since) const {
  nlohmann::json nodes = nlohmann::json::object();
  for (const auto& [name, ring] : by_) {
    nlohmann::json t = nlohmann::json::array(), load = nlohmann::json::array(), mem = nlohmann::json::array();
    for (const LoadSample& s : series(name, since)) {
      t.push_back(s.t);
      load.push_back(static_cast<double>(s.load));
      mem.push_back(s.mem_used_mb);
    }
    nodes[name] = {{"t", t}, {"load", load}, {"mem", mem}};
  }
  return {{"nodes", nodes}};
}

void LoadHistory::expire(double now) {
  for (auto it = by_.begin(); it != by_.end();)
    it = it->second.last < now - static_cast<double>(kKeep) ? by_.erase(it) : std::next(it);
}

}  // namespace grappe
