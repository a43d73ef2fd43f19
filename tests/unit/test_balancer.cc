#include <doctest/doctest.h>

#include "balance_scenarios.h"
#include "balance/balancer.h"

using namespace grappe;

namespace {
NodeView node(int num, double load, double speed = 1000, int cpus = 1, double mem_free = 4000) {
  NodeView v;
  v.node = num;
  v.load = load;
  v.speed = speed;
  v.cpus = cpus;
  v.mem_free_mb = mem_free;
  return v;
}
JobView job(const std::string& id, double age = 30, double rss = 64) {
  JobView j;
  j.id = id;
  j.age_s = age;
  j.rss_mb = rss;
  return j;
}
}  // namespace

TEST_CASE("balancer decisions, table-driven") {
  struct Case {
    const char* what;
    NodeView self;
    std::vector<JobView> jobs;
    std::vector<NodeView> peers;
    int target;  // 0: no move
  };
  NodeView blocked = node(2, 0);
  blocked.flags = kFlagBlock;
  NodeView dead = node(2, 0);
  dead.alive = false;
  NodeView stale = node(2, 0);
  stale.info_age_s = 60;
  NodeView full = node(2, 0);
  full.incoming = 2;
  NodeView no_room = node(2, 0, 1000, 1, 150);
  NodeView stay_node = node(1, 3);
  stay_node.flags = kFlagStay;
  NodeView lstay_node = node(1, 3);
  lstay_node.flags = kFlagLstay;
  JobView pinned = job("a");
  pinned.stay = true;
  JobView stuck = job("a");
  stuck.movable = false;
  JobView guest = job("a");
  guest.guest = true;
  const std::vector<Case> cases = {
      {"overloaded to idle", node(1, 3), {job("a"), job("b"), job("c")}, {node(2, 0)}, 2},
      {"equal loads: no trade", node(1, 2), {job("a"), job("b")}, {node(2, 2)}, 0},
      {"one more than the other: moving only swaps the imbalance", node(1, 2), {job("a"), job("b")}, {node(2, 1)}, 0},
      {"faster idle node wins over a slower idle one", node(1, 2), {job("a"), job("b")}, {node(2, 0, 800), node(3, 0, 2000)}, 3},
      {"a slow node alone with its job moves it to a much faster idle one", node(1, 1, 500), {job("a")}, {node(2, 0, 2000)}, 2},
      {"a fast node never hands its only job to a slower idle one", node(1, 1, 2000), {job("a")}, {node(2, 0, 500)}, 0},
      {"multi-CPU target with a free CPU", node(1, 3), {job("a"), job("b"), job("c")}, {node(2, 3, 1000, 4)}, 2},
      {"young jobs stay", node(1, 3), {job("a", 1), job("b", 1), job("c", 1)}, {node(2, 0)}, 0},
      {"a job that ran too briefly for the move to pay stays", node(1, 2), {job("a", 3.5, 2000), job("b", 3.5, 2000)}, {node(2, 0, 1000, 1, 8000)}, 0},
      {"blocked target", node(1, 3), {job("a"), job("b"), job("c")}, {blocked}, 0},
      {"dead target", node(1, 3), {job("a"), job("b"), job("c")}, {dead}, 0},
      {"stale information", node(1, 3), {job("a"), job("b"), job("c")}, {stale}, 0},
      {"target at its incoming limit", node(1, 3), {job("a"), job("b"), job("c")}, {full}, 0},
      {"target without memory room", node(1, 3), {job("a"), job("b"), job("c")}, {no_room}, 0},
      {"--stay jobs stay", node(1, 2), {pinned}, {node(2, 0)}, 0},
      {"unmovable jobs stay", node(1, 2), {stuck}, {node(2, 0)}, 0},
      {"node set to stay", stay_node, {job("a"), job("b"), job("c")}, {node(2, 0)}, 0},
      {"lstay keeps local jobs", lstay_node, {job("a"), job("b"), job("c")}, {node(2, 0)}, 0},
      {"lstay lets guests go", lstay_node, {guest, job("b"), job("c")}, {node(2, 0)}, 2},
      {"memory pressure moves even at equal CPU load", node(1, 1, 1000, 1, 50), {job("a", 30, 900)}, {node(2, 1, 1000, 1, 4000)}, 2},
  };
  for (const auto& c : cases) {
    std::string what = c.what;
    CAPTURE(what);
    auto d = decide(c.self, c.jobs, c.peers, 0);
    CHECK((d ? d->target : 0) == c.target);
    if (d) CHECK_FALSE(d->reason.empty());
  }
}

TEST_CASE("balancer: the outgoing limit, and a round's moves count in the views") {
  NodeView self = node(1, 6);
  std::vector<JobView> jobs;
  for (int i = 0; i < 6; ++i) jobs.push_back(job("j" + std::to_string(i)));
  CHECK_FALSE(decide(self, jobs, {node(2, 0)}, 4));
  auto moves = plan(self, jobs, {node(2, 0), node(3, 0)}, 0);
  // 6 jobs on 3 equal nodes: two each, so 4 leave, two to each peer.
  REQUIRE(moves.size() == 4);
  int to2 = 0;
  for (const auto& m : moves) to2 += m.target == 2;
  CHECK(to2 == 2);
  // Memory ushering picks the biggest job and says why.
  auto d = decide(node(1, 2, 1000, 1, 100), {job("small", 30, 10), job("big", 30, 700)}, {node(2, 2)}, 0);
  REQUIRE(d);
  CHECK(d->job == "big");
  CHECK(d->reason.find("memory") == 0);
}

TEST_CASE("simulator properties: equal loads never migrate; a burst spreads near the ideal; moves stay bounded") {
  BalanceSimConfig cfg;
  {
    std::vector<SimJobSpec> jobs;
    for (int i = 0; i < 32; ++i) jobs.push_back({0, i % 16, 60, 64, ""});
    auto r = simulate_balance(make_nodes(16, false, 1), jobs, cfg);
    CHECK(r.migrations == 0);
    CHECK(r.makespan == doctest::Approx(120).epsilon(0.01));
  }
  for (uint64_t seed : {1, 2, 3}) {
    CAPTURE(seed);
    cfg.seed = seed;
    auto nodes = make_nodes(16, false, seed);
    auto r = simulate_balance(nodes, make_jobs("burst", 64, 16, 0, seed), cfg);
    CHECK(r.ratio() <= 1.15);
    CHECK(r.max_migrations_per_job <= 5);
    CHECK(r.pingpongs == 0);
    BalanceSimConfig pinned = cfg;
    pinned.balance = false;
    CHECK(simulate_balance(nodes, make_jobs("burst", 64, 16, 0, seed), pinned).ratio() > 10);
  }
  auto big = simulate_balance(make_nodes(1000, false, 1), make_jobs("skewed", 10000, 1000, 60, 1), cfg);
  CHECK(big.ratio() <= 1.1);
  CHECK(big.max_migrations_per_job <= 10);
}
