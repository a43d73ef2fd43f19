// SWIM-style membership and MOSIX-style load dissemination, as pure logic: time comes in as a
// number, packets go out through an Outbox and come in through receive(). The daemon wires it
// to UDP; the tests and the simulator wire it to an in-memory network with a fake clock.
//
// Per protocol period each node probes one member (round-robin over a shuffled list); without an
// ack it asks k others to probe indirectly; still nothing and the member turns suspect, then dead
// after a timeout that grows with log(cluster size). A node that hears it is suspected refutes
// with a higher incarnation. Updates piggyback on every message; beacons (multicast/broadcast)
// make nodes find each other with no configuration.
#pragma once
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "membership/member_table.h"
#include "membership/wire.h"

namespace grappe {

class Outbox {
 public:
  virtual ~Outbox() = default;
  virtual void send(uint32_t ipv4, uint16_t port, const Message& m) = 0;  // unicast
  virtual void beacon(const Message& m) = 0;                                // to the whole segment
};

struct MembershipConfig {
  double period = 0.5;           // probe period (s)
  double ping_timeout = 0.2;     // direct ack wait before indirect probes
  int indirect = 3;              // k members asked to probe indirectly
  double suspicion_mult = 1.0;   // suspect -> dead after max(2, mult*log2(n+1)) periods
  double beacon_interval = 1.0;  // discovery beacons
  double load_interval = 0.5;    // load gossip
  int load_fanout = 1;           // peers per load round
  int load_window = 4;           // entries per load message
  double number_delay = 1.5;     // wait this long for peers before choosing a node number
};

struct MembershipStats {
  uint64_t probes = 0, indirect_probes = 0, suspicions = 0, deaths = 0, refutations = 0;
};

class Membership {
 public:
  Membership(NodeId self, std::string name, uint16_t port, MembershipConfig cfg, uint64_t seed,
             uint32_t incarnation, uint16_t number);
  void tick(double now, Outbox& out);
  void receive(const Message& m, uint32_t src_ip, uint16_t src_port, double now, Outbox& out);
  void leave(double now, Outbox& out);  // graceful: announce Left
  void set_local_load(const LoadInfo& l, double now);
  // Gossips our load at the next tick rather than at the next load round (a job ended or left
  // here: an idle CPU should draw work at once). At most one early round per tenth of a second.
  void load_soon() { load_soon_ = true; }
  // How many times a peer's load was seen to fall by half a job or more (the daemon's balancer takes
  // a change as the cue for a round).
  uint64_t load_drops() const { return load_drops_; }
  // Inserts a member as if discovered long ago (simulations start from a formed cluster).
  void seed(const MemberUpdate& u, double now);

  const MemberTable& members() const { return members_; }  // without self; dead ones stay
  const Member* find(const NodeId& id) const { return members_.find(id); }
  void reserve(size_t n) { members_.reserve(n); }  // simulations: avoids regrowth
  const Member& self() const { return self_; }
  size_t live_count() const;  // alive + suspect, self included
  double suspicion_timeout() const;
  const MembershipStats& stats() const { return stats_; }

  std::function<void(const std::string&)> on_event;        // human-readable log line
  std::function<void(uint16_t)> on_number;                  // our node number was chosen/changed

 private:
  MemberUpdate record_of(const Member& m) const;
  Message make(MsgType t) const;
  void piggyback(Message& m);
  void queue(const NodeId& id);
  void apply(const MemberUpdate& u, const Message& m, uint32_t src_ip, double now, Outbox& out);
  void apply_loads(const std::vector<LoadInfo>& loads, double now);
  void set_state(Member& mb, MemberState s, uint32_t inc, double now);
  void refute(uint32_t seen_inc);
  void probe(double now, Outbox& out);
  // tick()'s steps: the first tick's set-up, the ping-reqs when a probe went unanswered, suspects
  // whose timeout ran out, and one round of load gossip.
  void start(double now);
  void probe_indirectly(Outbox& out);
  void expire_suspects(double now);
  void gossip_load(double now, Outbox& out);
  void sync_to(const Member& m, Outbox& out);
  // True with probability ~4/n: of the n nodes that see the same newcomer, about 4 send it the table.
  bool one_of_a_few();
  void choose_number(double now);
  Member* random_live(const NodeId& except1, const NodeId& except2);
  void track(Member& mb);  // keeps live_ids_ and suspects_ current
  void check_number(const Member& mb);
  void event(const std::string& s) {
    if (on_event) on_event(s);
  }

  Member self_;
  MembershipConfig cfg_;
  std::mt19937_64 rng_;
  MemberTable members_;
  std::map<NodeId, int> dissemination_;  // id -> times sent
  std::vector<uint32_t> live_ids_;       // slots of alive + suspect members: O(1) random choice
  std::set<uint32_t> suspects_;
  bool number_conflict_ = false;         // a live member with a smaller id holds our number
  double started_ = -1, next_probe_ = 0, next_beacon_ = 0, next_load_ = 0;
  std::vector<uint32_t> probe_order_;
  size_t probe_index_ = 0;
  // The probe in flight.
  bool probing_ = false, acked_ = false, indirect_sent_ = false;
  NodeId probe_target_{};
  uint32_t probe_seq_ = 0;
  double probe_started_ = 0;
  uint32_t next_seq_ = 1;
  struct Relay {
    uint32_t ipv4;
    uint16_t port;
    uint32_t seq;
    double expires;
  };
  std::map<uint32_t, Relay> relays_;  // our seq -> who asked us to probe
  uint32_t load_version_ = 0;
  bool load_soon_ = false;
  double last_load_sent_ = -1;
  uint64_t load_drops_ = 0;
  MembershipStats stats_;
};

}  // namespace grappe
