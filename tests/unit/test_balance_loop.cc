// The balancing work of grapped's loop over a fake world: the admin's expel window sends on a guest
// that was busy when the command came; run --node N moves a job once started (or tells its caller
// why not); the round's decisions become moves.
#include <doctest/doctest.h>

#include "balance/balance_loop.h"

using namespace grappe;

namespace {

struct FakeWorld : BalanceWorld {
  std::vector<BalanceJob> table;
  std::vector<std::string> moves, told, logged;
  uint64_t drops = 0;
  std::string why_not_here;
  std::vector<NodeView> peers;
  std::vector<LocalJob> local;
  std::vector<BalanceJob> jobs() const override { return table; }
  std::string self_name() const override { return "n1"; }
  std::string unavailable() const override { return why_not_here; }
  uint64_t load_drops() const override { return drops; }
  std::string move(const std::string& job, const std::string& to, const std::string& reason) override {
    moves.push_back(job + ">" + to + " (" + reason + ")");
    for (auto& j : table)
      if (j.id == job) j.migrating = true;
    return "";
  }
  std::optional<std::string> node_name(int n) const override {
    return n == 2 ? std::optional<std::string>("n2") : std::nullopt;
  }
  void place_done(const std::string& job) override {
    for (auto& j : table)
      if (j.id == job) j.place = 0;
  }
  void tell(const std::string& job, const std::string& line) override { told.push_back(job + ": " + line); }
  void log(const std::string& line) override { logged.push_back(line); }
  NodeView self_view() const override {
    NodeView v;
    v.node = 1, v.cpus = 1, v.load = 3;
    return v;
  }
  std::vector<NodeView> peer_views(double) const override { return peers; }
  std::vector<LocalJob> local_jobs() const override { return local; }
};

BalanceJob job(const std::string& id, bool guest = false) {
  BalanceJob j;
  j.id = id;
  j.home = guest ? "n3" : "n1";
  j.running = true;
  j.guest = guest;
  return j;
}

}  // namespace

TEST_CASE("balance loop: expel sends on a guest that was busy when the command came, once") {
  FakeWorld w;
  w.why_not_here = "no CRIU";  // no automatic rounds in this test
  BalanceJob g = job("3.1", true);
  g.busy = true;
  w.table = {g, job("1.1")};
  BalanceLoop b;
  b.admin_op("expel", 10);
  b.step(10, w);
  CHECK(w.moves.empty());  // busy: not yet
  w.table[0].busy = false;
  b.step(10.5, w);
  CHECK(w.moves.empty());  // once a second
  b.step(11, w);
  CHECK(w.moves == std::vector<std::string>{"3.1>n3 (grappe node expel)"});
  w.table[0].migrating = false;
  b.step(12, w);
  CHECK(w.moves.size() == 1);  // sent on once
  b.admin_op("unblock", 12);
  b.admin_op("expel", 13);  // a new window forgets what the last one sent
  b.step(13, w);
  CHECK(w.moves.size() == 2);
  w.table[0].migrating = false;
  b.step(200, w);  // the window is over
  CHECK(w.moves.size() == 2);
}

TEST_CASE("balance loop: run --node N moves the job once it has run 0.5 s, or tells its caller why not") {
  FakeWorld w;
  w.why_not_here = "no CRIU";
  BalanceJob a = job("1.1"), b2 = job("1.2");
  a.place = 2, a.started = 10;
  b2.place = 7, b2.started = 10;
  w.table = {a, b2};
  BalanceLoop b;
  b.step(10.4, w);
  CHECK(w.moves.empty());
  b.step(10.6, w);
  CHECK(w.moves == std::vector<std::string>{"1.1>n2 (grappe run --node 2)"});
  CHECK(w.told == std::vector<std::string>{"1.2: grappe: job 1.2 stays on n1: node 7 is gone\n"});
  CHECK(w.table[0].place == 0);
  CHECK(w.table[1].place == 0);
  b.step(11, w);
  CHECK(w.moves.size() == 1);
}

TEST_CASE("balance loop: the round's decisions become moves") {
  FakeWorld w;
  w.table = {job("1.1"), job("1.2"), job("1.3")};
  for (const auto& j : w.table) w.local.push_back({j.id, false, false, "", 0, 1, 10});
  NodeView idle;
  idle.node = 2, idle.cpus = 4, idle.load = 0, idle.mem_free_mb = 4000;
  w.peers = {idle};
  BalanceLoop b;
  b.step(100, w);
  REQUIRE_FALSE(w.moves.empty());
  CHECK(w.moves[0].find(">n2 (balancer: ") != std::string::npos);
  CHECK(w.logged[0].find("to node 2") != std::string::npos);
  // The next round waits for its period.
  const size_t moved = w.moves.size();
  for (auto& j : w.table) j.migrating = false;
  b.step(100.3, w);
  CHECK(w.moves.size() == moved);
}
