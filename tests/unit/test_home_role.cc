// The replicated /home's roles (home/home_role.h) and its DRBD plumbing (home/drbd.h).
#include <doctest/doctest.h>

#include "home/drbd.h"
#include "home/home_role.h"
#include "home/overlay.h"

using namespace grappe;

namespace {
HomeNode node(uint16_t n, uint32_t term = 0, uint32_t flags = 0, uint16_t standby = 0) {
  return {n, "n" + std::to_string(n), {term, flags, standby, 512}};
}
HomeInput input(HomeNode self, std::vector<HomeNode> others, bool majority = true, bool tie = false) {
  HomeInput in;
  in.self = std::move(self);
  in.others = std::move(others);
  in.majority = majority, in.tie = tie;
  return in;
}
}  // namespace

TEST_CASE("home role: a new cluster's lowest number founds /home, the others wait for it") {
  HomePlan p = plan_home(input(node(1), {node(2), node(3)}));
  CHECK(p.action == HomeAction::Found);
  CHECK(p.term == 1);
  CHECK(p.server == 1);
  p = plan_home(input(node(2), {node(1), node(3)}));
  CHECK(p.action == HomeAction::Wait);
  CHECK(p.server == 1);
  CHECK(p.why.find("node 1 (n1) starts /home") != std::string::npos);
  CHECK(plan_home(input(node(0), {node(1)})).action == HomeAction::Wait);  // no number yet
}

TEST_CASE("home role: a node with a GRAPPE-HOME disk founds before a lower number without one") {
  HomePlan p = plan_home(input(node(3, 0, kHomeDisk), {node(1), node(2)}));
  CHECK(p.action == HomeAction::Found);
  CHECK(p.server == 3);
  CHECK(plan_home(input(node(1), {node(2), node(3, 0, kHomeDisk)})).action == HomeAction::Wait);
  // and is the standby a server picks first
  CHECK(choose_standby(input(node(1, 1, kHomeServer), {node(2), node(4, 0, kHomeDisk), node(3)}), 0) == 4);
  CHECK(choose_standby(input(node(1, 1, kHomeServer), {node(3), node(2)}), 0) == 2);
  CHECK(choose_standby(input(node(1, 1, kHomeServer), {node(2), node(3)}), 3) == 3);  // keeps its standby
  CHECK(choose_standby(input(node(1, 1, kHomeServer), {}), 2) == 0);                  // nobody left
  // A disk that appears moves the standby to it; a disk-backed standby is kept.
  CHECK(choose_standby(input(node(1, 1, kHomeServer), {node(2, 1, kHomeStandby), node(3, 0, kHomeDisk)}), 2) == 3);
  CHECK(choose_standby(input(node(1, 1, kHomeServer), {node(2, 1, kHomeStandby | kHomeDisk), node(3, 0, kHomeDisk)}), 2) == 2);
}

TEST_CASE("home role: a GRAPPE-HOME disk holding /home wins over a RAM /home not more recent, never over a newer one") {
  // The cluster boots again: node 1 founded a RAM /home at term 1 before node 3 and its disk
  // (last served at term 4) joined. Node 1 drops its copy; node 3 founds from its disk.
  HomePlan p = plan_home(input(node(1, 1, kHomeServer, 2), {node(2, 1, kHomeStandby | kHomeInSync), node(3, 4, kHomeDisk | kHomeDiskData)}));
  CHECK(p.action == HomeAction::Demote);
  CHECK(p.why.find("GRAPPE-HOME disk holds /home at term 4") != std::string::npos);
  // With no server, the disk founds, and the RAM standby's copy does not take over.
  p = plan_home(input(node(2, 1, kHomeStandby | kHomeInSync), {node(3, 4, kHomeDisk | kHomeDiskData)}));
  CHECK(p.action == HomeAction::Wait);
  CHECK(p.server == 3);
  p = plan_home(input(node(3, 4, kHomeDisk | kHomeDiskData), {node(2, 1, kHomeStandby | kHomeInSync)}));
  CHECK(p.action == HomeAction::Found);
  CHECK(p.term == 5);
  // The disk was away while its /home failed over (term 5 > 4): its data is old, it becomes the standby.
  p = plan_home(input(node(1, 5, kHomeServer, 2), {node(2, 5, kHomeStandby | kHomeInSync), node(3, 4, kHomeDisk | kHomeDiskData)}));
  CHECK(p.action == HomeAction::Serve);
  CHECK(p.standby == 3);
  // A new disk (no /home on it yet) never wins.
  CHECK(plan_home(input(node(1, 1, kHomeServer, 2), {node(2), node(3, 0, kHomeDisk)})).action == HomeAction::Serve);
}

TEST_CASE("home role: the role follows the storage: a RAM server hands over to an in-sync disk standby") {
  HomePlan p = plan_home(input(node(1, 1, kHomeServer, 3), {node(2), node(3, 1, kHomeStandby | kHomeInSync | kHomeDisk)}));
  CHECK(p.action == HomeAction::HandOver);
  CHECK(p.standby == 3);
  // Not before the copy is complete, and not from a disk-backed server.
  CHECK(plan_home(input(node(1, 1, kHomeServer, 3), {node(2), node(3, 1, kHomeStandby | kHomeDisk)})).action == HomeAction::Serve);
  CHECK(plan_home(input(node(1, 1, kHomeServer | kHomeDisk, 3), {node(2), node(3, 1, kHomeStandby | kHomeInSync | kHomeDisk)})).action ==
        HomeAction::Serve);
  // The standby, once the server's device is Secondary (released), takes over even without a majority.
  HomeInput in = input(node(3, 1, kHomeStandby | kHomeInSync | kHomeDisk), {node(1)}, false);
  in.released = true;
  CHECK(plan_home(in).action == HomeAction::Promote);
  in.released = false;
  CHECK(plan_home(in).action == HomeAction::Wait);
}

TEST_CASE("home role: the server serves and names its standby; the standby and the others follow it") {
  HomePlan p = plan_home(input(node(1, 1, kHomeServer), {node(2), node(3)}));
  CHECK(p.action == HomeAction::Serve);
  CHECK(p.standby == 2);
  p = plan_home(input(node(2), {node(1, 1, kHomeServer, 2), node(3)}));
  CHECK(p.action == HomeAction::Standby);
  CHECK(p.server == 1);
  CHECK(p.term == 1);
  p = plan_home(input(node(3), {node(1, 1, kHomeServer, 2), node(2, 1, kHomeStandby | kHomeInSync)}));
  CHECK(p.action == HomeAction::Mount);
  CHECK(p.server == 1);
  // Alone, a server serves degraded.
  p = plan_home(input(node(1, 1, kHomeServer), {}));
  CHECK(p.action == HomeAction::Serve);
  CHECK(p.standby == 0);
  CHECK(p.why.find("degraded") != std::string::npos);
}

TEST_CASE("home role: the server dies: its in-sync standby promotes at the next term, nobody else does") {
  // Node 1 (the server) is gone from the live list.
  HomePlan p = plan_home(input(node(2, 1, kHomeStandby | kHomeInSync), {node(3)}));
  CHECK(p.action == HomeAction::Promote);
  CHECK(p.term == 2);
  p = plan_home(input(node(3), {node(2, 1, kHomeStandby | kHomeInSync)}));
  CHECK(p.action == HomeAction::Wait);
  CHECK(p.server == 2);
  CHECK(p.why.find("takes it over") != std::string::npos);
}

TEST_CASE("home role: no promotion without a majority of the members last known") {
  HomePlan p = plan_home(input(node(2, 1, kHomeStandby | kHomeInSync), {}, false, true));  // 1 of 2
  CHECK(p.action == HomeAction::Wait);
  CHECK(p.why.find("majority") != std::string::npos);
  // unless its server handed /home over (shut down cleanly: its device went Secondary first)
  HomeInput handed = input(node(2, 1, kHomeStandby | kHomeInSync), {}, false, true);
  handed.released = true;
  p = plan_home(handed);
  CHECK(p.action == HomeAction::Promote);
  CHECK(p.why.find("handed it over") != std::string::npos);
  // nor a new /home
  CHECK(plan_home(input(node(1), {}, false)).action == HomeAction::Wait);
  // A server keeps serving on a tie (its standby died in a cluster of two) ...
  CHECK(plan_home(input(node(1, 1, kHomeServer, 2), {}, false, true)).action == HomeAction::Serve);
  // ... and stops below it (a partition left it in the minority).
  p = plan_home(input(node(1, 1, kHomeServer, 2), {node(2)}, false, false));
  CHECK(p.action == HomeAction::Fence);
}

TEST_CASE("home role: a server that left cleanly a moment ago (grapped restarting) is waited for") {
  HomeInput in = input(node(2, 1, kHomeStandby | kHomeInSync), {node(3)});
  in.server_left_lately = true;
  HomePlan p = plan_home(in);
  CHECK(p.action == HomeAction::Wait);
  CHECK(p.why.find("waits a minute") != std::string::npos);
  in.released = true;  // it handed /home over before leaving: no wait
  CHECK(plan_home(in).action == HomeAction::Promote);
}

TEST_CASE("home role: a standby not yet in sync cannot promote; a new, empty /home is said to be one") {
  HomePlan p = plan_home(input(node(2, 1, kHomeStandby), {node(3)}));
  CHECK(p.action == HomeAction::Found);  // node 2 is the lowest left
  CHECK(p.term == 2);
  CHECK(p.why.find("empty") != std::string::npos);
}

TEST_CASE("home role: after a merge the higher term serves, the other server steps down") {
  HomePlan p = plan_home(input(node(1, 1, kHomeServer), {node(5, 3, kHomeServer)}));
  CHECK(p.action == HomeAction::Demote);
  CHECK(p.server == 5);
  CHECK(plan_home(input(node(5, 3, kHomeServer), {node(1, 1, kHomeServer)})).action == HomeAction::Serve);
  // equal terms: the lower number
  CHECK(plan_home(input(node(4, 2, kHomeServer), {node(3, 2, kHomeServer)})).action == HomeAction::Demote);
  CHECK(current_server(input(node(4, 2, kHomeServer), {node(3, 2, kHomeServer)}))->number == 3);
}

TEST_CASE("home role: the quorum follows members leaving one at a time, never a minority") {
  Quorum q;
  q.observe(1, false);
  CHECK(q.known() == 1);
  q.observe(3, false);  // two joined
  CHECK(q.known() == 3);
  q.observe(2, false);  // one died: 2 of 3 is a majority, so 2 is the new count
  CHECK(q.majority(2));
  CHECK(q.known() == 2);
  q.observe(1, false);  // 1 of 2: a tie, not a majority: the count stays
  CHECK_FALSE(q.majority(1));
  CHECK(q.tie(1));
  CHECK(q.known() == 2);
  q.observe(1, true);   // a server on a tie goes on alone
  CHECK(q.known() == 1);
  Quorum r;
  r.observe(5, false);
  r.observe(2, false);  // a partition: 2 of 5 never becomes the count
  CHECK(r.known() == 5);
  CHECK_FALSE(r.majority(2));
}

TEST_CASE("home advert: packed into the load entry and back") {
  HomeAdvert a{77, kHomeStandby | kHomeInSync, 3, 384};
  CHECK(HomeAdvert::unpack(a.packed(), a.standby, a.size_mb) == a);
  CHECK(HomeAdvert::unpack(0, 0, 0).term == 0);
}

TEST_CASE("drbd: /proc/drbd (8.4) read for state and resync progress") {
  const std::string syncing =
      "version: 8.4.11 (api:1/proto:86-101)\nsrcversion: 211FB288A383ED945B83420\n"
      " 0: cs:SyncSource ro:Primary/Secondary ds:UpToDate/Inconsistent C r-----\n"
      "    ns:1024 nr:0 dw:0 dr:2048 al:8 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:90112\n"
      "\t[=>..................] sync'ed: 12.5% (90112/102400)K\n"
      "\tfinish: 0:00:09 speed: 10,240 (10,240) K/sec\n";
  DrbdState s = parse_proc_drbd(syncing);
  CHECK(s.configured);
  CHECK(s.cs == "SyncSource");
  CHECK(s.role == "Primary");
  CHECK(s.peer_role == "Secondary");
  CHECK(s.up_to_date());
  CHECK_FALSE(s.peer_up_to_date());
  CHECK(s.sync_pct == doctest::Approx(12.5));
  CHECK_FALSE(parse_proc_drbd(syncing, 1).configured);  // another minor
  s = parse_proc_drbd(" 0: cs:WFConnection ro:Secondary/Unknown ds:UpToDate/DUnknown C r-----\n");
  CHECK(s.up_to_date());
  CHECK(s.peer_role == "Unknown");
  CHECK(s.sync_pct < 0);
  CHECK_FALSE(parse_proc_drbd("version: 8.4.11\n 0: cs:Unconfigured\n").configured);
  CHECK_FALSE(parse_proc_drbd("").configured);
  CHECK_FALSE(parse_proc_drbd("0: cs:\n\tsync'ed: 400%\n").configured);
  CHECK(parse_proc_drbd(" 0: cs:SyncTarget ro:Secondary/Primary ds:Inconsistent/UpToDate C\n sync'ed: 9999%\n").sync_pct < 0);
}

TEST_CASE("drbd: the resource is protocol C between the two members' addresses") {
  std::string c = drbd_conf({"/dev/loop3", overlay_ip(1), overlay_ip(2), "", 0});
  CHECK(c.find("protocol C;") != std::string::npos);
  CHECK(c.find("floating ipv4 10.251.0.1:7789 { disk /dev/loop3; }") != std::string::npos);
  CHECK(c.find("floating ipv4 10.251.0.2:7789 { disk /dev/loop3; }") != std::string::npos);
  CHECK(c.find("meta-disk internal;") != std::string::npos);
  // No standby: a peer address no node has.
  c = drbd_conf({"/dev/loop3", overlay_ip(1), 0, "", 0});
  CHECK(c.find("floating ipv4 10.251.255.255:7789") != std::string::npos);
}
