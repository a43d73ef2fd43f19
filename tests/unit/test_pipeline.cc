#include <doctest/doctest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "error.h"
#include "fsutil.h"
#include "hash.h"
#include "pipeline.h"
#include "stages.h"

namespace fs = std::filesystem;
using namespace grappe::build;

namespace {

struct FakeRunner : ProcessRunner {
  int run(const std::vector<std::string>&, const RunOptions&) override { return 0; }
  std::string capture(const std::vector<std::string>&) override { return ""; }
};

struct World {
  // Per process: two unit-test runs at once (parallel checkouts) must not share it.
  fs::path dir = fs::temp_directory_path() / ("grappe-pipeline-test-" + std::to_string(::getpid()));
  FakeRunner runner;
  Progress progress{false};
  BuildContext ctx;
  std::map<std::string, std::string> inputs{{"a", "1"}, {"b", "2"}};
  std::map<std::string, int> builds;
  bool fail_b = false;

  World() {
    fs::remove_all(dir);
    ctx.cache = dir / "cache";
    ctx.out = dir / "out";
    ctx.logdir = dir / "out/log";
    ctx.runner = &runner;
    ctx.progress = &progress;
  }
  ~World() { fs::remove_all(dir); }

  std::vector<Stage> stages() {
    Stage a;
    a.name = "a";
    a.key = [this](BuildContext&) { return sha256_hex("a" + inputs["a"]); };
    a.build = [this](BuildContext&, const fs::path& tmp, const std::string&) {
      ++builds["a"];
      fs::create_directories(tmp);
      std::ofstream(tmp / "data") << inputs["a"];
    };
    Stage b;
    b.name = "b";
    b.key = [this](BuildContext& c) { return sha256_hex("b" + inputs["b"] + c.keys.at("a")); };
    b.build = [this](BuildContext& c, const fs::path& tmp, const std::string&) {
      ++builds["b"];
      std::ofstream(tmp) << "partial";  // a half-written artifact...
      if (fail_b) throw Error("disk full");
      std::ofstream(tmp) << read_file(c.outputs.at("a") / "data") << "+" << inputs["b"];
    };
    b.output = [](BuildContext& c, const std::string&) { return c.out / "final.img"; };
    return {a, b};
  }
  void run() { Pipeline(stages()).run(ctx); }
};

}  // namespace

TEST_CASE("a no-op rebuild reuses every stage") {
  World w;
  w.run();
  CHECK(w.builds["a"] == 1);
  CHECK(w.builds["b"] == 1);
  CHECK(read_file(w.ctx.out / "final.img") == "1+2");
  w.run();
  CHECK(w.builds["a"] == 1);
  CHECK(w.builds["b"] == 1);
}

TEST_CASE("changing a late input rebuilds only that stage; an early one rebuilds both") {
  World w;
  w.run();
  w.inputs["b"] = "3";
  w.run();
  CHECK(w.builds["a"] == 1);
  CHECK(w.builds["b"] == 2);
  CHECK(read_file(w.ctx.out / "final.img") == "1+3");
  w.inputs["a"] = "9";
  w.run();
  CHECK(w.builds["a"] == 2);
  CHECK(w.builds["b"] == 3);
  CHECK(read_file(w.ctx.out / "final.img") == "9+3");
}

TEST_CASE("a failed stage leaves no artifact at the final path and the rerun resumes") {
  World w;
  w.fail_b = true;
  CHECK_THROWS_AS(w.run(), Error);
  CHECK_FALSE(fs::exists(w.ctx.out / "final.img"));
  for (const auto& e : fs::directory_iterator(w.ctx.out))
    CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
  CHECK(fs::exists(w.ctx.logdir / "b.log"));
  w.fail_b = false;
  w.run();
  CHECK(w.builds["a"] == 1);  // resumed: the finished stage is not redone
  CHECK(read_file(w.ctx.out / "final.img") == "1+2");
}

TEST_CASE("a failure after an earlier success keeps the old artifact intact") {
  World w;
  w.run();
  w.inputs["b"] = "new";
  w.fail_b = true;
  CHECK_THROWS(w.run());
  CHECK(read_file(w.ctx.out / "final.img") == "1+2");
  w.fail_b = false;
  w.run();  // the sidecar key no longer matches: rebuilt, not trusted
  CHECK(read_file(w.ctx.out / "final.img") == "1+new");
}

TEST_CASE("leftover temporaries of a killed build are removed, live ones kept") {
  World w;
  fs::create_directories(w.ctx.cache / ".a-0123.tmp-999999999/sub");
  fs::create_directories(w.ctx.cache / (".a-live.tmp-" + std::to_string(::getpid())));
  clean_stale_temporaries(w.ctx.cache);
  CHECK_FALSE(fs::exists(w.ctx.cache / ".a-0123.tmp-999999999"));
  CHECK(fs::exists(w.ctx.cache / (".a-live.tmp-" + std::to_string(::getpid()))));
}

TEST_CASE("publish swaps a directory without a moment where it is missing") {
  World w;
  fs::create_directories(w.dir / "final");
  std::ofstream(w.dir / "final/old") << "old";
  fs::create_directories(w.dir / "next");
  std::ofstream(w.dir / "next/new") << "new";
  publish(w.dir / "next", w.dir / "final");
  CHECK(fs::exists(w.dir / "final/new"));
  CHECK_FALSE(fs::exists(w.dir / "final/old"));
  CHECK_FALSE(fs::exists(w.dir / "next"));
}

TEST_CASE("the cache keeps the current entry and one older per stage") {
  World w;
  for (const char* v : {"1", "2", "3", "4"}) {
    w.inputs["a"] = v;
    w.run();
  }
  int entries = 0;
  for (const auto& e : fs::directory_iterator(w.ctx.cache))
    if (e.path().filename().string().rfind("a-", 0) == 0) ++entries;
  CHECK(entries == 2);
  fs::create_directories(w.ctx.cache / "a-build-keepme");  // not a stage entry: untouched
  w.inputs["a"] = "5";
  w.run();
  CHECK(fs::exists(w.ctx.cache / "a-build-keepme"));
  w.inputs["a"] = "4";  // the previous one is still there: no rebuild
  w.run();
  CHECK(w.builds["a"] == 5);
}

TEST_CASE("the userland build trees go with their SDK: the current one and one older are kept") {
  const fs::path cache = fs::temp_directory_path() / ("grappe-prune-" + std::to_string(::getpid()));
  fs::remove_all(cache);
  const std::string k[3] = {std::string(64, '1'), std::string(64, '2'), std::string(64, '3')};
  auto t = fs::file_time_type::clock::now();
  for (int i = 0; i < 3; ++i)
    for (const std::string prefix : {"sdk-", "userland-build-"}) {
      const fs::path d = cache / (prefix + k[i].substr(0, 16));
      fs::create_directories(d);
      fs::last_write_time(d, t - std::chrono::hours(3 - i));  // k[0] oldest
    }
  fs::create_directories(cache / ("userland-" + std::string(16, 'a')));  // the userland stage's own entry
  prune_cache(cache, {{"sdk", k[0]}, {"userland", std::string(64, 'a')}});
  CHECK(fs::exists(cache / ("sdk-" + k[0].substr(0, 16))));             // current
  CHECK(fs::exists(cache / ("userland-build-" + k[0].substr(0, 16))));  // current
  CHECK(fs::exists(cache / ("userland-build-" + k[2].substr(0, 16))));  // the newest other
  CHECK_FALSE(fs::exists(cache / ("userland-build-" + k[1].substr(0, 16))));
  CHECK_FALSE(fs::exists(cache / ("sdk-" + k[1].substr(0, 16))));
  CHECK(fs::exists(cache / ("userland-" + std::string(16, 'a'))));
  fs::remove_all(cache);
}

TEST_CASE("stage_key: name/version, then the keys of the stages read, in order; a stage with no key yet is an error") {
  BuildContext ctx;
  ctx.keys = {{"rootfs", "k1"}, {"kernel", "k2"}};
  // The same bytes the stages hashed before stage_key existed, so their cache keys are unchanged.
  CHECK(stage_key(ctx, "kernel/1", {"rootfs"}).hex() == Sha256().field("stage", "kernel/1").field("rootfs", "k1").hex());
  CHECK(stage_key(ctx, "sdk/1").hex() == Sha256().field("stage", "sdk/1").hex());
  CHECK(stage_key(ctx, "x/1", {"rootfs", "kernel"}).hex() != stage_key(ctx, "x/1", {"kernel", "rootfs"}).hex());
  CHECK(stage_key(ctx, "x/1").hex() != stage_key(ctx, "x/2").hex());
  try {
    stage_key(ctx, "iso/1", {"kernel", "pxe"});
    FAIL("a stage with no key was read");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("iso/1") != std::string::npos);
    CHECK(std::string(e.what()).find("pxe") != std::string::npos);
  }
}

namespace {

// Two independent stages and one reading both: the first two must build at the same time.
struct ParallelWorld : World {
  std::atomic<int> in_build{0}, max_in_build{0};
  std::vector<Stage> parallel_stages(bool fail_x, ProcessRunner* real) {
    auto body = [this](const fs::path& tmp) {
      int now = ++in_build;
      for (int seen = max_in_build; now > seen && !max_in_build.compare_exchange_weak(seen, now);) {}
      // Wait (bounded) for the other one to start, so an overlap is seen when they can overlap.
      for (int i = 0; i < 200 && max_in_build < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      fs::create_directories(tmp);
      --in_build;
    };
    Stage x, y, z;
    x.name = "x", y.name = "y", z.name = "z";
    x.after = std::vector<std::string>{};
    y.after = std::vector<std::string>{};
    z.after = std::vector<std::string>{"x", "y"};
    x.key = [](BuildContext&) { return sha256_hex("x"); };
    y.key = [](BuildContext&) { return sha256_hex("y"); };
    z.key = [](BuildContext& c) { return sha256_hex("z" + c.keys.at("x") + c.keys.at("y")); };
    x.build = [=](BuildContext&, const fs::path& tmp, const std::string&) {
      if (fail_x) throw Error("x broke");
      body(tmp);
    };
    y.build = [=](BuildContext& c, const fs::path& tmp, const std::string& log) {
      if (real) {  // a long child: stopped when x fails
        RunOptions o;
        o.log_path = log;
        real->run({"sleep", "30"}, o);
      }
      body(tmp);
      CHECK(c.stage == "y");
    };
    z.build = [](BuildContext& c, const fs::path& tmp, const std::string&) {
      CHECK(fs::exists(c.outputs.at("x")));
      CHECK(fs::exists(c.outputs.at("y")));
      fs::create_directories(tmp);
    };
    return {x, y, z};
  }
};

}  // namespace

TEST_CASE("stages that do not read each other build at the same time; a reader waits for both") {
  ParallelWorld w;
  auto reports = Pipeline(w.parallel_stages(false, nullptr)).run(w.ctx);
  CHECK(w.max_in_build == 2);
  REQUIRE(reports.size() == 3);
  CHECK(reports[2].name == "z");
  CHECK_FALSE(reports[2].cached);
  w.max_in_build = 0;
  reports = Pipeline(w.parallel_stages(false, nullptr)).run(w.ctx);
  CHECK(reports[0].cached);
  CHECK(reports[2].cached);
  CHECK(w.max_in_build == 0);  // nothing built again
}

TEST_CASE("a stage's niceness is added to its build thread's (and so its tools'), not the pipeline's") {
  World w;
  auto stages = w.stages();
  int seen_a = -100, seen_b = -100;
  auto build_a = stages[0].build, build_b = stages[1].build;
  stages[0].nice = 5;
  stages[0].build = [&](BuildContext& c, const fs::path& tmp, const std::string& log) {
    seen_a = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
    build_a(c, tmp, log);
  };
  stages[1].build = [&](BuildContext& c, const fs::path& tmp, const std::string& log) {
    seen_b = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
    build_b(c, tmp, log);
  };
  const int before = ::getpriority(PRIO_PROCESS, 0);
  Pipeline(stages).run(w.ctx);
  CHECK(seen_a == std::min(before + 5, 19));  // added to the build's own niceness
  CHECK(seen_b == before);
  CHECK(::getpriority(PRIO_PROCESS, 0) == before);
}

TEST_CASE("one stage failing stops the others running (their tools get SIGTERM), nothing half-built stays") {
  ParallelWorld w;
  RealProcessRunner real;
  auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH_AS(Pipeline(w.parallel_stages(true, &real)).run(w.ctx), doctest::Contains("x broke"), Error);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20));  // not the 30 s sleep
  for (const auto& e : fs::directory_iterator(w.ctx.cache)) {
    const std::string n = e.path().filename().string();
    CHECK(n.find(".tmp-") == std::string::npos);
    CHECK(n.rfind("z-", 0) != 0);
  }
  // Later builds are not stopped by the earlier failure.
  RunOptions o;
  CHECK(real.run({"true"}, o) == 0);
}

TEST_CASE("a progress callback that throws stops the tool and its children, waits for them, leaks no descriptor") {
  auto open_fds = [] {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
    return n;
  };
  const size_t before = open_fds();
  const fs::path mark = fs::temp_directory_path() / ("grappe-runner-child-" + std::to_string(::getpid()));
  fs::remove(mark);
  RealProcessRunner real;
  RunOptions o;
  o.on_line = [](const std::string& l) {
    if (l == "started") throw Error("progress display failed");
  };
  auto t0 = std::chrono::steady_clock::now();
  // The tool's own child outlives the shell's echo; had it gone on, it would write the mark in 3 s.
  CHECK_THROWS_WITH_AS(real.run({"sh", "-c", "(sleep 3; touch " + mark.string() + ") & echo started; sleep 30"}, o),
                       doctest::Contains("progress display failed"), Error);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));  // not the 30 s sleep
  std::this_thread::sleep_for(std::chrono::seconds(4));
  CHECK_FALSE(fs::exists(mark));  // the whole group got SIGTERM
  CHECK(open_fds() == before);
  fs::remove(mark);
}

TEST_CASE("a stage reading a stage that is not before it is an error naming both") {
  World w;
  auto st = w.stages();
  st[0].after = std::vector<std::string>{"b"};
  CHECK_THROWS_WITH_AS(Pipeline(st).run(w.ctx), doctest::Contains("'a' reads 'b'"), Error);
}
