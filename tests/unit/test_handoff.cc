// The migration handoff with a failure injected at every step: whatever breaks, the job ends up
// running exactly once (after the daemon resolves a Pending target the way the protocol says).
#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <fstream>
#include <mutex>
#include <thread>

#include "migration/handoff.h"

using namespace grappe;
namespace fs = std::filesystem;

namespace {

// Two ends of an in-memory link that breaks for good after `budget` frames have crossed.
struct Wire {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Frame> q[2];
  int budget = 1 << 30;
  bool broken = false;
  std::string drop_kind;  // break when a frame of this kind is about to cross
};

class FakeLink final : public PeerLink {
 public:
  FakeLink(Wire& w, int side) : w_(w), side_(side) {}
  bool send(const Frame& f) override {
    std::lock_guard<std::mutex> l(w_.mu);
    if (w_.broken || w_.budget-- <= 0 || f.kind == w_.drop_kind) {
      w_.broken = true;
      w_.cv.notify_all();
      return false;
    }
    w_.q[1 - side_].push_back(f);
    w_.cv.notify_all();
    return true;
  }
  std::optional<Frame> recv(double timeout) override {
    std::unique_lock<std::mutex> l(w_.mu);
    w_.cv.wait_for(l, std::chrono::duration<double>(timeout), [&] { return w_.broken || !w_.q[side_].empty(); });
    if (w_.q[side_].empty()) return std::nullopt;
    Frame f = w_.q[side_].front();
    w_.q[side_].pop_front();
    return f;
  }

 private:
  Wire& w_;
  int side_;
};

enum class Copy { None, Running, Frozen, Stopped, Dead };

struct World {
  std::mutex mu;
  Copy source = Copy::Running, target = Copy::None;
  bool dump_fails = false, restore_fails = false;
  std::string vet_refuses;  // what the target's image check says ("" = fine)
  int restores = 0;
  std::vector<size_t> dirty;    // bytes each pre-dump writes (more rounds than entries: fails)
  std::vector<std::string> pre_parents;  // what each pre-dump was given as parent
  std::string final_parent;
  std::vector<std::string> hooks;  // the dump-priority hooks as they ran, with the copy's state then
  int running() const { return (source == Copy::Running) + (target == Copy::Running); }
};

class FakeCriu final : public Checkpointer {
 public:
  explicit FakeCriu(World& w) : w_(w) {}
  DumpResult pre_dump(pid_t, const std::string& dir, const std::string& parent) override {
    size_t round = w_.pre_parents.size();
    w_.pre_parents.push_back(parent);
    CHECK(w_.source == Copy::Running);
    if (round >= w_.dirty.size()) return {false, "pre-dump: no soft-dirty tracking", 0};
    fs::create_directories(dir);
    std::ofstream(fs::path(dir) / "pagemap-1.img") << "map";
    std::ofstream(fs::path(dir) / "pages-1.img") << std::string(w_.dirty[round], 'd');
    return {true, "", 0};
  }
  DumpResult dump(pid_t, const std::string& dir, const std::string& parent, const std::function<bool()>& hold) override {
    if (w_.dump_fails) return {false, "dump: out of disk"};
    w_.final_parent = parent;
    {
      std::lock_guard<std::mutex> l(w_.mu);
      w_.source = Copy::Frozen;
    }
    fs::create_directories(dir);
    std::ofstream(fs::path(dir) / "core-1.img") << "core";
    std::ofstream(fs::path(dir) / "pages-1.img") << std::string(3 << 20, 'p');  // several data frames
    std::ofstream(fs::path(dir) / "empty.img");
    bool ok = hold();
    std::lock_guard<std::mutex> l(w_.mu);
    w_.source = ok ? Copy::Dead : Copy::Running;
    return {ok, ok ? "" : "post-dump hold failed"};
  }
  RestoreResult restore(const std::string& dir, const nlohmann::json&) override {
    ++w_.restores;
    if (w_.restore_fails) return {-1, "criu restore: can't find file /tmp/x"};
    // The pre-dumps arrived whole and chained the way CRIU left them on the source.
    fs::path at = dir;
    for (size_t k = w_.final_parent.empty() ? 0 : std::stoul(w_.final_parent.substr(4)) + 1; k-- > 0;) {
      REQUIRE(fs::is_symlink(at / "parent"));
      at = fs::canonical(at / "parent");
      CHECK(at.filename() == "pre-" + std::to_string(k));
      CHECK(fs::file_size(at / "pages-1.img") == w_.dirty[k]);
    }
    CHECK(!fs::exists(at / "parent"));
    CHECK(fs::file_size(fs::path(dir) / "pages-1.img") == (3u << 20));
    CHECK(fs::exists(fs::path(dir) / "empty.img"));
    std::lock_guard<std::mutex> l(w_.mu);
    w_.target = Copy::Stopped;
    return {42, ""};
  }
  bool resume(pid_t) override {
    std::lock_guard<std::mutex> l(w_.mu);
    w_.target = Copy::Running;
    return true;
  }
  void discard(pid_t) override {
    std::lock_guard<std::mutex> l(w_.mu);
    w_.target = Copy::Dead;
  }

 private:
  World& w_;
};

struct Run {
  SourceResult s;
  TargetResult t;
};

Run migrate(World& world, Wire& wire, const std::string& refuse = "", bool precopy = false,
            std::function<double(pid_t, double)> dirty_share = nullptr) {
  static int n = 0;
  fs::path base = fs::temp_directory_path() / ("grappe-handoff-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
  HandoffLimits lim;
  lim.reply_timeout_s = lim.restore_timeout_s = 0.3;
  lim.chunk = 1 << 20;
  FakeLink a(wire, 0), b(wire, 1);
  FakeCriu src(world), dst(world);
  Run r;
  std::thread t([&] {
    r.t = migrate_in(b, dst, (base / "in").string(), [&](const nlohmann::json&) { return refuse; }, lim);
  });
  lim.precopy.small_bytes = 1 << 20;
  lim.precopy.dirty_share = std::move(dirty_share);
  lim.before_dump = [&](pid_t pid) -> std::function<void()> {
    world.hooks.push_back("raise " + std::to_string(pid) + (world.source == Copy::Running ? " running" : " not running"));
    return [&world] { world.hooks.push_back(world.source == Copy::Running ? "lower running" : "lower not running"); };
  };
  lim.restored = [&](pid_t pid, const nlohmann::json& job) {
    world.hooks.push_back("restored " + std::to_string(pid) + " " + job.value("id", "") +
                          (world.target == Copy::Stopped ? " held" : " not held"));
  };
  lim.vet_images = [&](const std::string& dir, const nlohmann::json&) {
    CHECK(fs::exists(fs::path(dir) / "core-1.img"));  // vetted once every image is in
    return world.vet_refuses;
  };
  r.s = migrate_out({{"id", "1.7"}, {"precopy", precopy}}, 1234, (base / "out").string(), a, src, lim);
  t.join();
  fs::remove_all(base);
  return r;
}

// What the daemon does with a Pending target: ask the source; "moved" means go, else abort.
void resolve(World& w, const Run& r) {
  if (r.t.outcome != TargetOutcome::Pending) return;
  FakeCriu dst(w);
  if (r.s.outcome == SourceOutcome::Stayed) dst.discard(r.t.pid);
  else dst.resume(r.t.pid);
}

// The target alone, fed an offer, one file of one byte and a commit the way a source would send
// them (the test answers nothing); its images go under `base`/in.
TargetResult target_fed(World& w, const fs::path& base, const Frame& offer, const Frame& file, const Frame& commit) {
  Wire wire;
  FakeLink a(wire, 0), b(wire, 1);
  FakeCriu dst(w);
  HandoffLimits lim;
  lim.reply_timeout_s = lim.restore_timeout_s = 0.3;
  for (const Frame& f : {offer, file, Frame{"data", {}, "x"}, commit}) a.send(f);
  return migrate_in(b, dst, (base / "in").string(), [](const nlohmann::json&) { return ""; }, lim);
}

}  // namespace

TEST_CASE("handoff: a clean migration moves the job and streams every image byte") {
  World w;
  Wire wire;
  auto r = migrate(w, wire);
  CHECK(r.s.outcome == SourceOutcome::Moved);
  CHECK(r.t.outcome == TargetOutcome::Running);
  CHECK(r.s.bytes == 4 + (3u << 20));
  CHECK(r.t.job["id"] == "1.7");
  CHECK(w.source == Copy::Dead);
  CHECK(w.target == Copy::Running);
  // Raised before the freeze, never lowered (it is gone); the restored copy set back while held.
  CHECK(w.hooks == std::vector<std::string>{"raise 1234 running", "restored 42 1.7 held"});
}

TEST_CASE("handoff: a job raised for its dump is lowered again when it stays, and only then") {
  World w;
  Wire wire;
  SUBCASE("the dump fails") {
    w.dump_fails = true;
    migrate(w, wire);
    CHECK(w.hooks == std::vector<std::string>{"raise 1234 running", "lower running"});
  }
  SUBCASE("the restore fails: thawed at the source, then lowered") {
    w.restore_fails = true;
    migrate(w, wire);
    CHECK(w.hooks == std::vector<std::string>{"raise 1234 running", "lower running"});
  }
  SUBCASE("refused: no dump, no raise") {
    migrate(w, wire, "blocked");
    CHECK(w.hooks.empty());
  }
  CHECK(w.source == Copy::Running);
}

TEST_CASE("handoff: refusal, dump failure and restore failure leave the job running at the source") {
  World w;
  Wire wire;
  SUBCASE("refused") {
    auto r = migrate(w, wire, "not enough memory: 512 MB free, job needs 900 MB");
    CHECK(r.s.outcome == SourceOutcome::Stayed);
    CHECK(r.s.why.find("not enough memory") != std::string::npos);
    CHECK(r.t.outcome == TargetOutcome::Refused);
  }
  SUBCASE("dump fails") {
    w.dump_fails = true;
    auto r = migrate(w, wire);
    CHECK(r.s.outcome == SourceOutcome::Stayed);
    CHECK(r.s.why.find("out of disk") != std::string::npos);
    CHECK(r.t.outcome != TargetOutcome::Running);
  }
  SUBCASE("the images' credentials differ from the offer's: never restored") {
    w.vet_refuses = "core-1.img: it runs as uid 0, the offer says 1000";
    auto r = migrate(w, wire);
    CHECK(r.s.outcome == SourceOutcome::Stayed);
    CHECK(r.s.why.find("images refused: core-1.img: it runs as uid 0, the offer says 1000") != std::string::npos);
    CHECK(r.t.outcome == TargetOutcome::Failed);
    CHECK(w.restores == 0);
  }
  SUBCASE("restore fails") {
    w.restore_fails = true;
    auto r = migrate(w, wire);
    CHECK(r.s.outcome == SourceOutcome::Stayed);
    CHECK(r.s.why.find("can't find file") != std::string::npos);
    CHECK(r.t.outcome == TargetOutcome::Failed);
  }
  CHECK(w.source == Copy::Running);
  CHECK(w.target != Copy::Running);
  CHECK(w.running() == 1);
}

TEST_CASE("handoff: the link breaks after every possible frame; the job runs exactly once") {
  // A clean run crosses: offer, accept, 3 x file, 4 x data, commit, restored, go = 12 frames.
  for (int budget = 0; budget <= 12; ++budget) {
    CAPTURE(budget);
    World w;
    Wire wire;
    wire.budget = budget;
    auto r = migrate(w, wire);
    resolve(w, r);
    CHECK(w.running() == 1);
    CHECK(w.target != Copy::Stopped);
    CHECK(w.source != Copy::Frozen);
    if (r.s.outcome == SourceOutcome::Stayed) CHECK(w.source == Copy::Running);
    else CHECK(w.target == Copy::Running);
  }
}

TEST_CASE("handoff: losing exactly the restored or the go frame needs the daemon's resolution") {
  for (std::string kind : {"restored", "go", "abort"}) {
    CAPTURE(kind);
    World w;
    Wire wire;
    wire.drop_kind = kind;
    if (kind == "abort") w.restore_fails = true;
    auto r = migrate(w, wire);
    if (kind == "restored") {
      CHECK(r.s.outcome == SourceOutcome::Stayed);  // never heard the restore: thawed
      CHECK(r.t.outcome == TargetOutcome::Pending);
    }
    if (kind == "go") {
      CHECK(r.s.outcome == SourceOutcome::MovedGoPending);
      CHECK(r.t.outcome == TargetOutcome::Pending);
    }
    resolve(w, r);
    CHECK(w.running() == 1);
  }
}

TEST_CASE("handoff: pre-copy sends pre-dumps while the job runs, until the dirty set is small") {
  World w;
  Wire wire;
  w.dirty = {6u << 20, 3u << 20, 512u << 10, 1u << 20};
  auto r = migrate(w, wire, "", true);
  CHECK(r.s.outcome == SourceOutcome::Moved);
  CHECK(w.running() == 1);
  CHECK(w.target == Copy::Running);
  CHECK(r.s.precopy_rounds == 3);  // the third round wrote 512 KB: small enough
  CHECK(r.s.precopy_bytes == (6u << 20) + (3u << 20) + (512u << 10) + 3 * 3);
  CHECK(r.s.bytes == 4 + (3u << 20));  // the final dump, sent while frozen
  CHECK(r.s.precopy_note.empty());
  CHECK(w.pre_parents == std::vector<std::string>{"", "../pre-0", "../pre-1"});
  CHECK(w.final_parent == "pre-2");
}

TEST_CASE("handoff: pre-copy is skipped for a job rewriting most of its memory faster than rounds go") {
  World w;
  Wire wire;
  w.dirty = {6u << 20, 3u << 20, 512u << 10, 1u << 20};
  std::vector<double> probed;
  auto probe = [&](double share) {
    return [&probed, share](pid_t pid, double s) {
      CHECK(pid == 1234);
      probed.push_back(s);
      return share;
    };
  };
  SUBCASE("rewrites 95 % in the probe: straight to the one frozen dump") {
    auto r = migrate(w, wire, "", true, probe(0.95));
    CHECK(r.s.outcome == SourceOutcome::Moved);
    CHECK(r.s.precopy_rounds == 0);
    CHECK(w.pre_parents.empty());  // no pre-dump at all
    CHECK(r.s.precopy_note.find("skipped: the job rewrote 95 % of its memory in 0.5 s") == 0);
    CHECK(w.final_parent.empty());
  }
  SUBCASE("writes little: the rounds go as planned") {
    auto r = migrate(w, wire, "", true, probe(0.05));
    CHECK(r.s.precopy_rounds == 3);
    CHECK(r.s.precopy_note.empty());
  }
  SUBCASE("unknown (-1): as without the probe") {
    auto r = migrate(w, wire, "", true, probe(-1));
    CHECK(r.s.precopy_rounds == 3);
  }
  CHECK(probed == std::vector<double>{0.5});
  CHECK(w.running() == 1);
  CHECK(w.target == Copy::Running);
}

TEST_CASE("handoff: pre-copy stops when the dirty set stops shrinking, or falls back when pre-dumps fail") {
  World w;
  Wire wire;
  SUBCASE("not shrinking") {
    w.dirty = {6u << 20, 5u << 20, 4u << 20};
    auto r = migrate(w, wire, "", true);
    CHECK(r.s.outcome == SourceOutcome::Moved);
    CHECK(r.s.precopy_rounds == 2);
    CHECK(r.s.precopy_note.find("stopped shrinking") != std::string::npos);
    CHECK(w.final_parent == "pre-1");
  }
  SUBCASE("the first pre-dump fails: a plain migration") {
    auto r = migrate(w, wire, "", true);
    CHECK(r.s.outcome == SourceOutcome::Moved);
    CHECK(r.s.precopy_rounds == 0);
    CHECK(r.s.precopy_note.find("no soft-dirty") != std::string::npos);
    CHECK(w.final_parent.empty());
  }
  SUBCASE("a later pre-dump fails: the final dump builds on the last good one") {
    w.dirty = {6u << 20, 4u << 20};
    auto r = migrate(w, wire, "", true);
    CHECK(r.s.outcome == SourceOutcome::Moved);
    CHECK(r.s.precopy_rounds == 2);
    CHECK(w.final_parent == "pre-1");
  }
  CHECK(w.running() == 1);
  CHECK(w.target == Copy::Running);
}

TEST_CASE("handoff: with pre-copy, the link breaks after every possible frame; the job runs exactly once") {
  // offer, accept, 2 rounds x (2 files + 2 data... ) then the final dump: count a clean run first.
  int frames = 0;
  {
    World w;
    Wire wire;
    w.dirty = {2u << 20, 512u << 10};
    migrate(w, wire, "", true);
    frames = (1 << 30) - wire.budget;
  }
  CHECK(frames > 14);
  for (int budget = 0; budget <= frames; ++budget) {
    CAPTURE(budget);
    World w;
    Wire wire;
    wire.budget = budget;
    w.dirty = {2u << 20, 512u << 10};
    auto r = migrate(w, wire, "", true);
    resolve(w, r);
    CHECK(w.running() == 1);
    CHECK(w.source != Copy::Frozen);
    if (r.s.outcome == SourceOutcome::Stayed) CHECK(w.source == Copy::Running);
    else CHECK(w.target == Copy::Running);
  }
}

TEST_CASE("handoff: the target refuses image paths outside its directory") {
  for (auto [dir, parent] : {std::pair<std::string, std::string>{"../etc", ""}, {"pre-0/..", ""}, {"pre-", ""},
                             {"pre-0", "../pre-0"}, {"pre-0", "pre-1"}}) {
    CAPTURE(dir);
    CAPTURE(parent);
    World w;
    fs::path base = fs::temp_directory_path() / ("grappe-handoff-bad-" + std::to_string(::getpid()));
    auto t = target_fed(w, base, {"offer", {{"id", "1.7"}, {"precopy", true}}, {}},
                        {"file", {{"name", "pages-1.img"}, {"size", 1}, {"dir", dir}}, {}}, {"commit", {{"parent", parent}}, {}});
    CHECK(t.outcome == TargetOutcome::Failed);
    CHECK((t.why.find("refusing") != std::string::npos || t.why.find("never arrived") != std::string::npos));
    CHECK(!fs::exists(base / "etc"));
    CHECK(w.target == Copy::None);
    fs::remove_all(base);
  }
}

TEST_CASE("handoff: malformed metas end the handoff with a reason naming the field, never an exception") {
  struct Case {
    Frame offer, file, commit;
    std::string why;
  };
  const Frame offer{"offer", {{"id", "1.7"}}, {}}, file{"file", {{"name", "core-1.img"}, {"size", 1}}, {}},
      commit{"commit", {{"parent", ""}}, {}};
  for (const auto& c : std::vector<Case>{
           {{"offer", {{"id", "1.7"}, {"precopy", "yes"}}, {}}, file, commit, "offer: \"precopy\" must be true or false"},
           {{"offer", nlohmann::json::array(), {}}, file, commit, "no valid offer"},
           {offer, {"file", {{"name", "core-1.img"}, {"size", "1"}}, {}}, commit, "file: \"size\" must be an integer"},
           {offer, {"file", {{"name", nullptr}, {"size", 1}}, {}}, commit, "file: \"name\" is missing"},
           {offer, file, {"commit", {{"parent", 0}}, {}}, "commit: \"parent\" must be a string"}}) {
    CAPTURE(c.why);
    World w;
    fs::path base = fs::temp_directory_path() / ("grappe-handoff-meta-" + std::to_string(::getpid()));
    TargetResult t;
    CHECK_NOTHROW(t = target_fed(w, base, c.offer, c.file, c.commit));
    CHECK(t.outcome != TargetOutcome::Running);
    CHECK(t.why.find(c.why) != std::string::npos);
    CHECK(w.target == Copy::None);
    CHECK(!fs::exists(base / "in"));
    fs::remove_all(base);
  }
  // The source reads the target's answers the same way.
  World w;
  Wire wire;
  FakeLink a(wire, 0), b(wire, 1);
  FakeCriu src(w);
  b.send({"refuse", {{"why", 42}}, {}});
  SourceResult s = migrate_out({{"id", "1.7"}}, 1234, "/nonexistent", a, src, {});
  CHECK(s.outcome == SourceOutcome::Stayed);
  CHECK(s.why == "malformed refusal from the target: refuse: \"why\" must be a string");
  CHECK(w.source == Copy::Running);
}

TEST_CASE("handoff: received images are private: their directory 0700, each file 0600") {
  struct ModeCriu final : Checkpointer {
    unsigned dir_mode = 0, file_mode = 0;
    DumpResult dump(pid_t, const std::string&, const std::string&, const std::function<bool()>&) override { return {}; }
    RestoreResult restore(const std::string& dir, const nlohmann::json&) override {
      struct stat st {};
      if (::stat(dir.c_str(), &st) == 0) dir_mode = st.st_mode & 07777;
      if (::stat((dir + "/core-1.img").c_str(), &st) == 0) file_mode = st.st_mode & 07777;
      return {-1, "the test stops here"};
    }
    bool resume(pid_t) override { return false; }
    void discard(pid_t) override {}
  } criu;
  Wire wire;
  FakeLink a(wire, 0), b(wire, 1);
  fs::path base = fs::temp_directory_path() / ("grappe-handoff-mode-" + std::to_string(::getpid()));
  HandoffLimits lim;
  lim.reply_timeout_s = 0.3;
  a.send({"offer", {{"id", "1.7"}}, {}});
  a.send({"file", {{"name", "core-1.img"}, {"size", 4}}, {}});
  a.send({"data", {}, "core"});
  a.send({"commit", {{"parent", ""}}, {}});
  auto t = migrate_in(b, criu, (base / "in").string(), [](const nlohmann::json&) { return ""; }, lim);
  CHECK(t.why == "restore: the test stops here");
  CHECK(criu.dir_mode == 0700);
  CHECK(criu.file_mode == 0600);
  fs::remove_all(base);
}
