#include <doctest/doctest.h>

#include <set>

#include "../sim/sim_network.h"

using namespace grappe;

namespace {
std::vector<int> all(const SimNetwork& n) {
  std::vector<int> v;
  for (size_t i = 0; i < n.nodes_.size(); ++i) v.push_back(static_cast<int>(i));
  return v;
}
SimNetwork cluster(int n, double loss = 0, uint64_t seed = 1) {
  SimNetwork net(seed, MembershipConfig{}, loss);
  for (int i = 0; i < n; ++i) net.add_node("n" + std::to_string(i));
  return net;
}
}  // namespace

TEST_CASE("nodes find each other by beacons and all see all alive") {
  auto net = cluster(5);
  net.run_for(0.2);
  CHECK(net.all_see(MemberState::Alive, all(net)));
}

TEST_CASE("a node alone is a cluster of one") {
  auto net = cluster(1);
  net.run_for(3);
  CHECK(net.nodes_[0].m->live_count() == 1);
  CHECK(net.nodes_[0].m->self().number == 1);
}

TEST_CASE("a crashed node goes suspect, then dead everywhere within the suspicion bound") {
  auto net = cluster(5);
  net.run_for(2);
  net.crash(4);
  double t0 = net.now;
  bool saw_suspect = false;
  while (net.now - t0 < 10 && !net.all_see(MemberState::Dead, {4})) {
    net.step(0.01);
    for (int v = 0; v < 4; ++v) saw_suspect |= net.state_seen(v, 4) == MemberState::Suspect;
  }
  CHECK(saw_suspect);
  CHECK(net.all_see(MemberState::Dead, {4}));
  double took = net.now - t0;
  CHECK(took < 1.0 + 4 * 0.5 + net.nodes_[0].m->suspicion_timeout());
  MESSAGE("dead everywhere after " << took << " s");
}

TEST_CASE("a paused node is suspected, then refutes with a higher incarnation") {
  auto net = cluster(5);
  net.run_for(2);
  uint32_t inc0 = net.nodes_[2].m->self().incarnation;
  net.nodes_[2].paused = true;
  double t0 = net.now;
  while (net.now - t0 < 5 && net.state_seen(0, 2) == MemberState::Alive) net.step(0.01);
  CHECK(net.state_seen(0, 2) != MemberState::Alive);
  net.nodes_[2].paused = false;
  net.run_for(5);
  CHECK(net.all_see(MemberState::Alive, all(net)));
  CHECK(net.nodes_[2].m->self().incarnation > inc0);
  CHECK(net.nodes_[2].m->stats().refutations >= 1);
}

TEST_CASE("incarnation ordering: stale news never overrides fresher") {
  auto net = cluster(2);
  net.run_for(1);
  // Inject a stale 'dead' about node 1 (incarnation 0 < 1) into node 0: ignored.
  Message m;
  m.type = MsgType::Beacon;
  m.sender = net.nodes_[1].id;
  MemberUpdate u;
  u.id = net.nodes_[1].id;
  u.state = MemberState::Dead;
  u.incarnation = 0;
  u.port = 7423;
  u.name = "n1";
  m.updates = {u};
  struct Null : Outbox {
    void send(uint32_t, uint16_t, const Message&) override {}
    void beacon(const Message&) override {}
  } null;
  net.nodes_[0].m->receive(m, net.nodes_[1].ip, 7423, net.now, null);
  CHECK(net.state_seen(0, 1) == MemberState::Alive);
  // Suspect at the same incarnation does override alive.
  m.updates[0].state = MemberState::Suspect;
  m.updates[0].incarnation = net.nodes_[1].m->self().incarnation;
  m.sender = net.nodes_[0].id;  // third-party news
  m.sender[0] ^= 0xff;
  m.updates[0].ipv4 = net.nodes_[1].ip;
  net.nodes_[0].m->receive(m, 0x0a0000ff, 7423, net.now, null);
  CHECK(net.state_seen(0, 1) == MemberState::Suspect);
  net.run_for(2);  // node 1 hears of it and refutes
  CHECK(net.state_seen(0, 1) == MemberState::Alive);
}

TEST_CASE("graceful leave and rejoin after a restart keep the node number") {
  auto net = cluster(4);
  net.run_for(3);
  uint16_t num = net.nodes_[3].m->self().number;
  CHECK(num != 0);
  struct Fwd : Outbox {
    SimNetwork& n;
    explicit Fwd(SimNetwork& s) : n(s) {}
    void send(uint32_t, uint16_t, const Message&) override {}
    void beacon(const Message& m) override {
      for (int i = 0; i < 3; ++i) {
        Message c = m;
        c.nonce = 1;
        n.nodes_[i].m->receive(c, n.nodes_[3].ip, 7423, n.now, *this);
      }
    }
  } fwd(net);
  net.nodes_[3].m->leave(net.now, fwd);
  net.crash(3);
  CHECK(net.all_see(MemberState::Left, {3}));
  net.run_for(1);
  net.restart(3, 100);  // a new daemon: higher incarnation, no remembered number
  net.run_for(3);
  CHECK(net.all_see(MemberState::Alive, all(net)));
  CHECK(net.nodes_[3].m->self().number == num);
}

TEST_CASE("node numbers never collide, even when nodes start together") {
  auto net = cluster(8, 0, 7);
  net.run_for(5);
  std::set<uint16_t> nums;
  for (auto& n : net.nodes_) nums.insert(n.m->self().number);
  CHECK(nums.size() == 8);
  CHECK(nums.count(0) == 0);
}

TEST_CASE("a newcomer whose first table is lost still learns a dead node's number before choosing") {
  auto net = cluster(5, 0, 11);
  net.run_for(3);
  const uint16_t dead_number = net.nodes_[4].m->self().number;
  net.crash(4);
  net.run_for(10);
  REQUIRE(net.all_see(MemberState::Dead, {4}));
  const int late = net.add_node("late");
  const double t0 = net.now;
  // Everything sent to the newcomer in its first 0.9 s is lost: the tables answering its first
  // beacon never arrive, and the dead node is gossiped no more.
  net.cut = [&](int, int to) { return to == late && net.now < t0 + 0.9; };
  net.run_for(3);
  const uint16_t got = net.nodes_[late].m->self().number;
  CHECK(got != 0);
  CHECK(got != dead_number);
  std::set<uint16_t> nums;
  for (int i = 0; i < 4; ++i) nums.insert(net.nodes_[i].m->self().number);
  CHECK(nums.count(got) == 0);
}

TEST_CASE("two nodes that come up holding the same number: the smaller id keeps it") {
  SimNetwork net(3, MembershipConfig{});
  net.add_node("a", 1, 5);
  net.add_node("b", 1, 5);
  net.add_node("c", 1, 6);
  net.run_for(5);
  int keeper = net.nodes_[0].id < net.nodes_[1].id ? 0 : 1;
  CHECK(net.nodes_[keeper].m->self().number == 5);
  uint16_t other = net.nodes_[1 - keeper].m->self().number;
  CHECK(other != 5);
  CHECK(other != 6);
  CHECK(other != 0);
  CHECK(net.nodes_[2].m->self().number == 6);
  // Everyone learns the new number.
  CHECK(net.nodes_[2].m->find(net.nodes_[1 - keeper].id)->number == other);
}

TEST_CASE("membership converges with 5% packet loss") {
  auto net = cluster(5, 0.05, 3);
  net.run_for(5);
  CHECK(net.all_see(MemberState::Alive, all(net)));
  net.crash(1);
  net.run_for(10);
  CHECK(net.all_see(MemberState::Dead, {1}));
  std::vector<int> rest = {0, 2, 3, 4};
  CHECK(net.all_see(MemberState::Alive, rest));
}

TEST_CASE("load entries spread by gossip; fresher versions win") {
  auto net = cluster(6);
  for (size_t i = 0; i < net.nodes_.size(); ++i) {
    LoadInfo l;
    l.cpus = 2;
    l.load_milli = static_cast<uint32_t>(1000 * i);
    net.nodes_[i].m->set_local_load(l, net.now);
  }
  net.run_for(6);
  for (size_t v = 0; v < net.nodes_.size(); ++v)
    for (const auto& m : net.nodes_[v].m->members()) {
      REQUIRE(m.load);
      CHECK(m.load->info.cpus == 2);
    }
  LoadInfo l;
  l.cpus = 2;
  l.load_milli = 9999;
  net.nodes_[5].m->set_local_load(l, net.now);
  net.run_for(6);
  for (int v = 0; v < 5; ++v) CHECK(net.nodes_[v].m->find(net.nodes_[5].id)->load->info.load_milli == 9999);
}

TEST_CASE("a node whose load fell gossips it at once, and peers count the fall") {
  MembershipConfig cfg;
  cfg.load_interval = 5;  // the regular rounds alone would take up to 5 s
  SimNetwork net(3, cfg);
  net.add_node("n0");
  net.add_node("n1");
  auto load = [&](uint32_t milli, bool soon) {
    LoadInfo l;
    l.cpus = 1;
    l.load_milli = milli;
    net.nodes_[1].m->set_local_load(l, net.now);
    if (soon) net.nodes_[1].m->load_soon();
  };
  auto seen = [&] { return net.nodes_[0].m->find(net.nodes_[1].id)->load->info.load_milli; };
  load(3000, false);
  net.run_for(11);
  REQUIRE(seen() == 3000);
  CHECK(net.nodes_[0].m->load_drops() == 0);
  const double t0 = net.now;
  load(2000, true);  // a job ended on n1
  while (seen() != 2000 && net.now - t0 < 5) net.step(0.01);
  CHECK(net.now - t0 < 0.1);
  CHECK(net.nodes_[0].m->load_drops() == 1);
  load(1700, true);  // less than half a job: no cue
  net.run_for(0.2);
  REQUIRE(seen() == 1700);
  load(2900, true);  // a rise: no cue
  net.run_for(0.2);
  REQUIRE(seen() == 2900);
  CHECK(net.nodes_[0].m->load_drops() == 1);
}

TEST_CASE("packets signed with another cluster's key are dropped and never join") {
  auto net = cluster(3);
  net.nodes_[2].key.fill(9);
  net.run_for(3);
  CHECK_FALSE(net.knows(0, 2));
  CHECK_FALSE(net.knows(2, 0));
  CHECK(net.rejected > 0);
}

TEST_CASE("a member sends probes and tables only to members' own addresses, never to one a packet names") {
  auto net = cluster(3);
  net.run_for(2);
  REQUIRE(net.all_see(MemberState::Alive, all(net)));
  struct Rec : Outbox {
    std::vector<std::pair<uint32_t, Message>> sent;
    void send(uint32_t ip, uint16_t, const Message& m) override { sent.emplace_back(ip, m); }
    void beacon(const Message&) override {}
  } rec;
  const uint32_t elsewhere = 0x0a6363fe;  // an address no member has
  // A ping-req for a known member, naming another address: the probe goes to the member's own.
  Message req;
  req.type = MsgType::PingReq;
  req.sender = net.nodes_[1].id;
  req.seq = 77;
  req.target = net.nodes_[2].id;
  req.target_ipv4 = elsewhere;
  req.target_port = 9;
  net.nodes_[0].m->receive(req, net.nodes_[1].ip, 7423, net.now, rec);
  REQUIRE(rec.sent.size() == 1);
  CHECK(rec.sent[0].first == net.nodes_[2].ip);
  CHECK(rec.sent[0].second.type == MsgType::Ping);
  // A ping-req for an id nobody knows: nothing is sent anywhere.
  rec.sent.clear();
  req.target[0] ^= 0x55;
  net.nodes_[0].m->receive(req, net.nodes_[1].ip, 7423, net.now, rec);
  CHECK(rec.sent.empty());
  // A newcomer's first beacon claiming another address: whatever answers goes to its source.
  Message b;
  b.type = MsgType::Beacon;
  b.sender = net.nodes_[2].id;
  b.sender[0] ^= 0x77;
  MemberUpdate u;
  u.id = b.sender;
  u.state = MemberState::Alive;
  u.incarnation = 1;
  u.port = 7423;
  u.name = "newcomer";
  u.ipv4 = elsewhere;
  b.updates = {u};
  for (int i = 0; i < 3; ++i) net.nodes_[i].m->receive(b, 0x0a000063, 7423, net.now, rec);
  for (const auto& [ip, m] : rec.sent) CHECK(ip != elsewhere);
  net.nodes_[0].m->tick(net.now + 0.6, rec);  // probes pick the newcomer at the address it sent from
  for (const auto& [ip, m] : rec.sent) CHECK(ip != elsewhere);
}
