#include <doctest/doctest.h>

#include "auto_balance.h"

using namespace grappe;

namespace {
NodeView node(int num, double load, int cpus = 1) {
  NodeView v;
  v.node = num;
  v.load = load;
  v.cpus = cpus;
  v.speed = 1000;
  v.mem_free_mb = 1000;
  return v;
}
// n CPU-bound jobs that arrived at t=0, each with `cpu` seconds of CPU time.
std::vector<LocalJob> busy(int n, double cpu) {
  std::vector<LocalJob> v;
  for (int i = 0; i < n; ++i) v.push_back({"1." + std::to_string(i + 1), false, false, "", 0, cpu, 40});
  return v;
}
}  // namespace

TEST_CASE("auto balance: four busy jobs and an idle peer end two and two") {
  AutoBalancer b;
  NodeView self = node(1, 4);
  std::vector<NodeView> peers = {node(2, 0)};
  REQUIRE(b.due(10, 0));
  CHECK(b.round(10, self, busy(4, 2.5), peers, 0).empty());  // first sight: CPU use not measured yet
  CHECK(b.why_stays("1.1") == "its CPU use is being measured");
  CHECK_FALSE(b.due(10.5, 0));  // once a second
  REQUIRE(b.due(20, 0));
  auto moves = b.round(20, self, busy(4, 5), peers, 0);  // each used 0.25 of the CPU
  REQUIRE(moves.size() == 2);
  CHECK(moves[0].target == 2);
  CHECK(moves[0].reason.find("cpu") == 0);
  CHECK(b.why_stays(moves[0].job).empty());
  CHECK(b.share("1.1") == doctest::Approx(0.25));
  int staying = 0;
  for (int i = 1; i <= 4; ++i) staying += b.why_stays("1." + std::to_string(i)) == "no other node would finish it sooner";
  CHECK(staying == 2);
}

TEST_CASE("auto balance: quiet while migrations are in flight and until the figures settle") {
  AutoBalanceParams p;
  p.settle_s = 4;
  AutoBalancer b(p);
  CHECK_FALSE(b.due(10, 1));
  CHECK_FALSE(b.due(12, 0));  // 2 s after the last one ended
  CHECK(b.due(14.5, 0));
}

TEST_CASE("auto balance: idle, young, pinned and unmovable jobs stay, each with its reason") {
  AutoBalancer b;
  NodeView self = node(1, 4);
  std::vector<NodeView> peers = {node(2, 0)};
  std::vector<LocalJob> jobs = {
      {"1.1", false, false, "", 0, 0.0, 10},           // sleeps
      {"1.2", false, true, "", 0, 0.0, 10},            // --stay
      {"1.3", false, false, "holds node-local file /tmp/x", 0, 0.0, 10},
      {"1.4", false, false, "", 19.5, 0.0, 10},        // arrived just now
  };
  b.round(10, self, jobs, peers, 0);
  for (auto& j : jobs) j.cpu_s += j.id == "1.1" ? 0.5 : 10;
  CHECK(b.round(20, self, jobs, peers, 0).empty());
  CHECK(b.why_stays("1.1") == "mostly idle (5% CPU)");
  CHECK(b.why_stays("1.2") == "started with --stay");
  CHECK(b.why_stays("1.3") == "cannot move: holds node-local file /tmp/x");
  CHECK(b.why_stays("1.4") == "too young to move");
}

TEST_CASE("auto balance: node flags are honoured") {
  AutoBalancer b;
  NodeView self = node(1, 4);
  NodeView blocked = node(2, 0);
  blocked.flags = kFlagBlock;
  b.round(10, self, busy(4, 0), {blocked}, 0);
  CHECK(b.round(20, self, busy(4, 10), {blocked}, 0).empty());
  self.flags = kFlagLstay;
  b.round(30, self, busy(4, 20), {node(2, 0)}, 0);
  CHECK(b.round(40, self, busy(4, 30), {node(2, 0)}, 0).empty());
  CHECK(b.why_stays("1.1").find("lstay") != std::string::npos);
}
