#include <doctest/doctest.h>

#include "balance/auto_balance.h"

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
// n CPU-bound jobs that arrived at t=0.
std::vector<LocalJob> busy(int n) {
  std::vector<LocalJob> v;
  for (int i = 0; i < n; ++i) v.push_back({"1." + std::to_string(i + 1), false, false, "", 0, 1, 40});
  return v;
}
}  // namespace

TEST_CASE("auto balance: four busy jobs and an idle peer end two and two") {
  AutoBalancer b;
  REQUIRE(b.due(20, 0));
  auto moves = b.round(20, node(1, 4, 2), busy(4), {node(2, 0, 2)}, 0);
  REQUIRE(moves.size() == 2);
  CHECK(moves[0].target == 2);
  CHECK(moves[0].reason.find("cpu") == 0);
  CHECK(b.why_stays(moves[0].job).empty());
  int staying = 0;
  for (int i = 1; i <= 4; ++i) staying += b.why_stays("1." + std::to_string(i)) == "no other node would finish it sooner";
  CHECK(staying == 2);
  CHECK_FALSE(b.due(20.5, 0));  // once a second
  // Two and two: nothing moves either way.
  CHECK(b.round(30, node(1, 2), busy(2), {node(2, 2)}, 0).empty());
}

TEST_CASE("auto balance: rounds go on below the limit of moves in flight, and pause after the last one ends") {
  AutoBalanceParams p;
  p.settle_s = 4;
  AutoBalancer b(p);
  CHECK_FALSE(b.due(10, 2));  // at the limit (2)
  CHECK(b.due(10, 1));        // one more may start
  b.round(10, node(1, 0), {}, {}, 1);
  CHECK_FALSE(b.due(10.5, 1)); // once a second
  CHECK_FALSE(b.due(12, 0));  // 2 s after the last one ended
  CHECK(b.due(14.5, 0));
}

TEST_CASE("auto balance: a peer's load drop brings the next round forward, within limits") {
  AutoBalancer b;
  REQUIRE(b.due(20, 0));
  b.round(20, node(1, 2), busy(2), {node(2, 2)}, 0);
  CHECK_FALSE(b.due(20.1, 0));
  b.hurry(20.1);  // too soon after the last round: no sooner than 20.25
  CHECK_FALSE(b.due(20.2, 0));
  CHECK(b.due(20.25, 0));
  b.round(20.25, node(1, 2), busy(2), {node(2, 1)}, 0);
  CHECK_FALSE(b.due(20.6, 0));
  b.hurry(20.6);
  CHECK_FALSE(b.due(20.6, 1));  // a move in flight: still at the one-CPU limit
  CHECK_FALSE(b.due(20.7, 0));  // it just ended: settle first
  CHECK(b.due(21.7, 0));
}

TEST_CASE("auto balance: the next round comes when a young job is old enough to move") {
  auto young = [](bool stay) {
    std::vector<LocalJob> v = busy(1);
    v[0].arrived = 12;
    v[0].stay = stay;
    v[0].rss_mb = 1;
    v[0].left_s = 10;  // the history says 10 s of work are ahead: worth moving as soon as allowed
    return v;
  };
  AutoBalancer b;
  REQUIRE(b.due(12.4, 0));
  CHECK(b.round(12.4, node(1, 7), young(false), {node(2, 0)}, 0).empty());
  CHECK(b.why_stays("1.1") == "too young to move");
  CHECK_FALSE(b.due(12.9, 0));
  REQUIRE(b.due(13.0, 0));  // 1 s old (the minimum residency), not at the period's 13.4
  CHECK(b.round(13.0, node(1, 7), young(false), {node(2, 0)}, 0).size() == 1);
  AutoBalancer pinned;  // a job that may never move does not bring a round forward
  REQUIRE(pinned.due(12.4, 0));
  pinned.round(12.4, node(1, 2), young(true), {node(2, 0)}, 0);
  CHECK_FALSE(pinned.due(13.0, 0));
  CHECK(pinned.due(13.4, 0));
}

TEST_CASE("auto balance: a one-CPU node sends one job at a time; two CPUs, two at once") {
  AutoBalancer one;
  REQUIRE(one.due(20, 0));
  auto moves = one.round(20, node(1, 7), busy(7), {node(2, 0)}, 0);
  CHECK(moves.size() == 1);
  CHECK_FALSE(one.due(21, 1));  // its move is in flight: no second one beside it
  CHECK_FALSE(one.due(21.4, 0));  // it just ended: settle first (one load sample)
  CHECK(one.due(22.5, 0));
  CHECK(one.round(22.5, node(1, 6), busy(6), {node(2, 1)}, 0).size() == 1);

  AutoBalancer two;
  REQUIRE(two.due(20, 0));
  CHECK(two.round(20, node(1, 7, 2), busy(7), {node(2, 0, 2)}, 0).size() == 2);
  CHECK_FALSE(two.due(21, 2));
  CHECK(two.due(21, 1));
}

TEST_CASE("auto balance: a job sent to a peer counts there until the peer's figures show it") {
  AutoBalancer b, forgetful;
  REQUIRE(b.due(20, 0));
  auto first = b.round(20, node(1, 3), busy(3), {node(2, 0)}, 0);
  REQUIRE(first.size() == 1);  // three and none: one goes, two and one is as good as it gets
  CHECK_FALSE(b.due(20.5, 1)); // in flight
  CHECK_FALSE(b.due(21, 1));   // a one-CPU node moves one job at a time
  CHECK(b.round(21, node(1, 2), {}, {node(2, 0)}, 1).empty());  // and a round would find nothing more
  CHECK_FALSE(b.due(23, 1));   // last seen in flight at 23: it ends then
  CHECK_FALSE(b.due(23.4, 0)); // settling
  REQUIRE(b.due(24.1, 0));
  std::vector<LocalJob> left;
  for (const auto& j : busy(3))
    if (j.id != first[0].job) left.push_back(j);
  // Node 2's figure was sampled at 23.1, before the job landed: it still says idle.
  NodeView stale = node(2, 0);
  stale.info_age_s = 1.0;
  CHECK(b.round(24.1, node(1, 2), left, {stale}, 0).empty());
  CHECK(forgetful.round(24.1, node(1, 2), left, {stale}, 0).size() == 1);  // what it would do without
  // A figure sampled after the landing is believed as it is: the job is not counted twice, and
  // once it ends there the peer is idle again.
  NodeView fresh = node(2, 1);
  fresh.info_age_s = 0.4;
  CHECK(b.round(26, node(1, 2), left, {fresh}, 0).empty());
  CHECK(b.round(28, node(1, 2), left, {node(2, 0)}, 0).size() == 1);
}

TEST_CASE("auto balance: idle, young, pinned and unmovable jobs stay, each with its reason") {
  AutoBalancer b;
  std::vector<LocalJob> jobs = {
      {"1.1", false, false, "", 0, 0.05, 10},  // sleeps
      {"1.2", false, true, "", 0, 1, 10},      // --stay
      {"1.3", false, false, "holds node-local file /tmp/x", 0, 1, 10},
      {"1.4", false, false, "", 19.5, 1, 10},  // arrived just now
  };
  CHECK(b.round(20, node(1, 4), jobs, {node(2, 0)}, 0).empty());
  CHECK(b.why_stays("1.1") == "mostly idle (runnable 5% of the time)");
  CHECK(b.why_stays("1.2") == "started with --stay");
  CHECK(b.why_stays("1.3") == "cannot move: holds node-local file /tmp/x");
  CHECK(b.why_stays("1.4") == "too young to move");
}

TEST_CASE("auto balance: node flags are honoured") {
  AutoBalancer b;
  NodeView blocked = node(2, 0);
  blocked.flags = kFlagBlock;
  CHECK(b.round(20, node(1, 4), busy(4), {blocked}, 0).empty());
  NodeView self = node(1, 4);
  self.flags = kFlagLstay;
  CHECK(b.round(40, self, busy(4), {node(2, 0)}, 0).empty());
  CHECK(b.why_stays("1.1").find("lstay") != std::string::npos);
}

TEST_CASE("auto balance: the cost model follows observed migrations") {
  AutoBalancer fresh, b;
  for (int i = 0; i < 20; ++i) b.observed(5.3, 15);  // TCG: 16 MB frozen 5.3 s
  CHECK(b.fixed_cost_s() == doctest::Approx(5.0).epsilon(0.01));
  CHECK(b.fixed_cost_s() > fresh.fixed_cost_s());
  // A job that has run 6 s on a node of 4 is worth moving at the default cost, not at the
  // observed one; after 54 s it is worth it at either.
  std::vector<LocalJob> job = {{"1.1", false, false, "", 14, 1, 15}};
  NodeView self, peer;
  self.node = 1, self.load = 4, self.mem_free_mb = 1000;
  peer.node = 2, peer.mem_free_mb = 1000;
  CHECK(fresh.round(20, self, job, {peer}, 0).size() == 1);
  CHECK(b.round(20, self, job, {peer}, 0).empty());
  CHECK(b.round(68, self, job, {peer}, 0).size() == 1);
}
