#include "pipeline.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
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
  // The userland stage's incremental build tree lives beside the stages' entries, one per SDK
  // (stage_userland.cc): it is kept and pruned like the SDK's own entry.
  std::map<std::string, std::string> keys = current_keys;
  if (auto sdk = keys.find("sdk"); sdk != keys.end()) keys["userland-build"] = sdk->second;
  for (const auto& [stage, key] : keys) {
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

namespace {

using Clock = std::chrono::steady_clock;

// One stage's place in a run.
struct Slot {
  enum State { Waiting, Running, Done } state = Waiting;
  std::vector<size_t> deps;
  Clock::time_point t0;
  std::string key, log;
  fs::path out, sidecar, tmp;
  bool custom = false;
};

// A finished build, handed from its thread to the pipeline's.
struct Finished {
  size_t index;
  std::exception_ptr error;
};

std::vector<size_t> resolve_deps(const std::vector<Stage>& stages, size_t i) {
  std::vector<size_t> deps;
  if (!stages[i].after) {
    for (size_t j = 0; j < i; ++j) deps.push_back(j);
    return deps;
  }
  for (const std::string& name : *stages[i].after) {
    size_t j = 0;
    while (j < i && stages[j].name != name) ++j;
    if (j == i)
      throw Error("stage '" + stages[i].name + "' reads '" + name + "', which is not an earlier stage",
                  "the stage list", "list the stages it reads before it in all_stages()");
    deps.push_back(j);
  }
  return deps;
}

}  // namespace

std::vector<StageReport> Pipeline::run(BuildContext& ctx, int parallel) {
  fs::create_directories(ctx.cache);
  fs::create_directories(ctx.logdir);
  clean_stale_temporaries(ctx.cache);
  clean_stale_temporaries(ctx.out);
  const size_t n = stages_.size();
  std::vector<Slot> slots(n);
  std::vector<StageReport> reports(n);
  for (size_t i = 0; i < n; ++i) slots[i].deps = resolve_deps(stages_, i), reports[i].name = stages_[i].name;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Finished> finished;
  std::vector<std::thread> threads;
  size_t done = 0;
  int running = 0;
  std::exception_ptr failure;
  auto say = [&](const std::string& s) { ctx.progress->note(s); };
  auto counter = [&](size_t i) {
    char b[96];
    std::snprintf(b, sizeof b, "[%zu/%zu] %-10s", i + 1, n, stages_[i].name.c_str());
    return std::string(b);
  };
  // Adopts a finished output (on this thread: adopt() may fill the context) and reports it.
  auto complete = [&](size_t i, bool cached) {
    const Stage& st = stages_[i];
    Slot& sl = slots[i];
    ctx.outputs[st.name] = sl.out;
    ctx.rebuilt[st.name] = !cached;
    std::string summary = st.adopt ? st.adopt(ctx, sl.out) : std::string();
    double secs = std::chrono::duration<double>(Clock::now() - sl.t0).count();
    char b[64];
    std::snprintf(b, sizeof b, " %-7s %6.1fs  ", cached ? "cached" : "built", secs);
    say(counter(i) + b + summary);
    reports[i].cached = cached, reports[i].seconds = secs;
    sl.state = Slot::Done;
    ++done;
  };
  auto ready = [&](size_t i) {
    for (size_t d : slots[i].deps)
      if (slots[d].state != Slot::Done) return false;
    return slots[i].state == Slot::Waiting;
  };
  // Computes the key; a cached output is adopted at once, else the build starts on a thread.
  auto start = [&](size_t i) {
    const Stage& st = stages_[i];
    Slot& sl = slots[i];
    sl.t0 = Clock::now();
    sl.key = st.key(ctx);
    ctx.keys[st.name] = sl.key;
    sl.custom = static_cast<bool>(st.output);
    sl.out = sl.custom ? st.output(ctx, sl.key) : ctx.cache / (st.name + "-" + sl.key.substr(0, 16));
    // Outputs outside the cache (the ISO, out/pxe) carry their key in a sidecar file.
    sl.sidecar = sl.out.parent_path() / ("." + sl.out.filename().string() + ".key");
    sl.log = (ctx.logdir / (st.name + ".log")).string();
    bool cached = fs::exists(sl.out);
    if (cached && sl.custom) {
      std::error_code ec;
      cached = fs::exists(sl.sidecar, ec) && read_file(sl.sidecar) == sl.key;
    }
    if (cached) return complete(i, true);
    say(counter(i) + " building…");
    { std::ofstream(sl.log, std::ios::trunc) << "grappe-build stage " << st.name << " key " << sl.key << "\n"; }
    sl.tmp = temp_sibling(sl.out);
    remove_tree_safely(sl.tmp);
    if (sl.custom) fs::remove(sl.sidecar);
    ctx.progress->begin(st.name);
    sl.state = Slot::Running;
    ++running;
    BuildContext own = ctx;  // the build's copy: the pipeline goes on adopting into ctx
    own.stage = st.name;
    threads.emplace_back([&, i, own]() mutable {
      const Stage& s = stages_[i];
      Slot& l = slots[i];
      std::exception_ptr err;
      // Linux keeps a niceness per thread; fork() hands it to the tools this thread starts. Added
      // to the build's own (`nice grappe-build …` keeps its meaning), at most 19.
      if (s.nice) {
        const id_t self = static_cast<id_t>(::gettid());
        errno = 0;
        const int now = ::getpriority(PRIO_PROCESS, self);  // -1 is a valid answer: errno says
        if (errno == 0) ::setpriority(PRIO_PROCESS, self, std::min(now + s.nice, 19));
      }
      try {
        s.build(own, l.tmp, l.log);
        publish(l.tmp, l.out);
        if (l.custom) write_file_atomic(l.sidecar, l.key);
      } catch (...) {
        err = std::current_exception();
        try { remove_tree_safely(l.tmp); } catch (...) {}
      }
      std::lock_guard<std::mutex> g(mu);
      finished.push_back({i, err});
      cv.notify_one();
    });
  };
  auto fail = [&](std::exception_ptr e) {
    if (!failure) failure = e;
    stop_children(true);
  };

  try {
    while (done < n) {
      for (size_t i = 0; !failure && i < n && running < parallel; ++i)
        if (ready(i)) {
          start(i);
          i = static_cast<size_t>(-1);  // an adopted stage may make earlier-listed ones ready
        }
      if (running == 0) break;  // failed, or all done
      Finished f;
      {
        std::unique_lock<std::mutex> g(mu);
        cv.wait(g, [&] { return !finished.empty(); });
        f = finished.front();
        finished.pop_front();
      }
      --running;
      const std::string& name = stages_[f.index].name;
      ctx.progress->end(name);
      if (!f.error) {
        if (!failure) complete(f.index, false);
        continue;
      }
      if (failure) {
        say("grappe-build: stage '" + name + "' stopped (another stage failed)");
        continue;
      }
      std::fprintf(stderr, "\ngrappe-build: stage '%s' failed; last lines of %s:\n%s\n", name.c_str(),
                   slots[f.index].log.c_str(), log_tail(slots[f.index].log, 25).c_str());
      fail(f.error);
    }
  } catch (...) {
    fail(std::current_exception());
  }
  for (auto& t : threads) t.join();
  stop_children(false);
  if (failure) std::rethrow_exception(failure);
  if (done < n) throw Error("stages left unbuilt", "the stage list", "report this: a stage waits for itself");
  prune_cache(ctx.cache, ctx.keys);
  return reports;
}

}  // namespace grappe::build
