#include "pipeline.h"

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <regex>

#include "error.h"
#include "fsutil.h"

namespace fs = std::filesystem;

namespace grappe::build {

std::string log_tail(const std::string& path, int lines) {
  std::ifstream in(path);
  std::deque<std::string> tail;
  for (std::string l; std::getline(in, l);) {
    tail.push_back(l);
    if (static_cast<int>(tail.size()) > lines) tail.pop_front();
  }
  std::string s;
  for (const auto& l : tail) s += "    | " + l + "\n";
  return s;
}

void prune_cache(const fs::path& cache, const std::map<std::string, std::string>& current_keys, int keep) {
  std::error_code ec;
  for (const auto& [stage, key] : current_keys) {
    const std::regex entry(stage + "-[0-9a-f]{16}");
    std::vector<std::pair<fs::file_time_type, fs::path>> old;
    for (const auto& e : fs::directory_iterator(cache, ec)) {
      auto n = e.path().filename().string();
      if (!std::regex_match(n, entry) || n == stage + "-" + key.substr(0, 16)) continue;
      old.emplace_back(fs::last_write_time(e.path(), ec), e.path());
    }
    std::sort(old.rbegin(), old.rend());
    for (size_t i = static_cast<size_t>(keep); i < old.size(); ++i) remove_tree_safely(old[i].second);
  }
}

void clean_stale_temporaries(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    auto n = e.path().filename().string();
    auto pos = n.rfind(".tmp-");
    if (n.empty() || n[0] != '.' || pos == std::string::npos) continue;
    int pid = std::atoi(n.c_str() + pos + 5);
    if (pid > 0 && ::kill(pid, 0) == 0) continue;  // another build is still running
    remove_tree_safely(e.path());
  }
}

std::vector<StageReport> Pipeline::run(BuildContext& ctx) {
  std::vector<StageReport> reports;
  fs::create_directories(ctx.cache);
  fs::create_directories(ctx.logdir);
  clean_stale_temporaries(ctx.cache);
  clean_stale_temporaries(ctx.out);
  int n = 0;
  for (const auto& st : stages_) {
    ++n;
    auto t0 = std::chrono::steady_clock::now();
    std::string key = st.key(ctx);
    ctx.keys[st.name] = key;
    const bool custom = static_cast<bool>(st.output);
    fs::path out = custom ? st.output(ctx, key) : ctx.cache / (st.name + "-" + key.substr(0, 16));
    // Outputs outside the cache (the ISO, out/pxe) carry their key in a sidecar file.
    fs::path sidecar = out.parent_path() / ("." + out.filename().string() + ".key");
    std::string log = (ctx.logdir / (st.name + ".log")).string();
    bool cached = fs::exists(out);
    if (cached && custom) {
      std::error_code ec;
      cached = fs::exists(sidecar, ec) && read_file(sidecar) == key;
    }
    if (!cached) {
      std::printf("[%d/%zu] %-10s building…\n", n, stages_.size(), st.name.c_str());
      std::fflush(stdout);
      { std::ofstream(log, std::ios::trunc) << "grappe-build stage " << st.name << " key " << key << "\n"; }
      fs::path tmp = temp_sibling(out);
      remove_tree_safely(tmp);
      if (custom) fs::remove(sidecar);
      ctx.progress->begin(st.name);
      try {
        st.build(ctx, tmp, log);
        ctx.progress->end();
        publish(tmp, out);
        if (custom) write_file_atomic(sidecar, key);
      } catch (const std::exception& e) {
        ctx.progress->end();
        try { remove_tree_safely(tmp); } catch (...) {}
        std::fprintf(stderr, "\ngrappe-build: stage '%s' failed; last lines of %s:\n%s\n", st.name.c_str(),
                     log.c_str(), log_tail(log, 25).c_str());
        throw;
      }
    }
    ctx.outputs[st.name] = out;
    ctx.rebuilt[st.name] = !cached;
    std::string summary = st.adopt ? st.adopt(ctx, out) : std::string();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("[%d/%zu] %-10s %-7s %6.1fs  %s\n", n, stages_.size(), st.name.c_str(), cached ? "cached" : "built",
                secs, summary.c_str());
    std::fflush(stdout);
    reports.push_back({st.name, cached, secs});
  }
  prune_cache(ctx.cache, ctx.keys);
  return reports;
}

}  // namespace grappe::build
