// An in-memory L2 segment for the real membership code: a fake clock, per-packet loss and
// delay, node crashes, pauses (SIGSTOP-like) and restarts. Every packet is encoded, signed and
// decoded as on the wire, so sizes and the codec are exercised too.
#pragma once
#include <functional>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "membership/membership.h"

namespace grappe {

class SimNetwork {
 public:
  struct Node {
    std::unique_ptr<Membership> m;
    NodeId id{};
    std::string name;
    uint32_t ip = 0;
    bool up = true;       // false: crashed (no ticks, packets to it are lost)
    bool paused = false;  // true: like SIGSTOP (no ticks, packets to it are lost)
    ClusterKey key{};
  };

  SimNetwork(uint64_t seed, MembershipConfig cfg, double loss = 0.0, double delay = 0.005);
  int add_node(const std::string& name, uint32_t incarnation = 1, uint16_t number = 0);
  void restart(int i, uint32_t incarnation);  // new daemon, same id: incarnation must grow
  void crash(int i) { nodes_[i].up = false; }
  void run_for(double seconds, double dt = 0.01);
  void step(double dt);
  // Every node knows every other as alive, numbered, as in a cluster formed long ago.
  void form_cluster();
  uint64_t deliveries = 0;

  // State of `who` as seen by `viewer` (Alive for itself); nullptr-free helpers for tests.
  MemberState state_seen(int viewer, int who) const;
  bool knows(int viewer, int who) const;
  // True when every up node sees every other up node in `s`.
  bool all_see(MemberState s, const std::vector<int>& who) const;

  double now = 0;
  double loss = 0;
  std::function<bool(int from, int to)> cut;  // drops the packets it returns true for
  uint64_t packets = 0, bytes = 0, rejected = 0;
  std::vector<Node> nodes_;

 private:
  using Frame = std::shared_ptr<const std::vector<uint8_t>>;  // one copy per beacon, not per receiver
  struct InFlight {
    double at;
    int to;
    Frame data;
    uint32_t src;
    bool operator>(const InFlight& o) const { return at > o.at; }
  };
  class Box;
  std::vector<uint8_t> frame(int from, const Message& m);  // numbered, signed, counted
  void transmit(int from, int to, const Message& m);
  void deliver(int from, int to, const Frame& data);
  MembershipConfig cfg_;
  double delay_;
  std::mt19937_64 rng_;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> queue_;
  uint64_t nonce_ = 1;
};

}  // namespace grappe
