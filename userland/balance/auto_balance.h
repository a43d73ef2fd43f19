// The balancer as grapped runs it: about once a second while fewer migrations than its limit are in
// flight from this node (and a moment after the last one ended), it asks plan()
// (balancer.h) what to move, and remembers why every other job stays, for `grappe ps`. Pure logic
// over the samples the daemon takes from /proc (a job's demand comes from LoadModel, load.h).
#pragma once
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "balance/balancer.h"

namespace grappe {

// A job running on this node, as sampled for one round.
struct LocalJob {
  std::string id;
  bool guest = false;    // its home is another node
  bool stay = false;     // grappe run --stay
  std::string why_not;   // why it cannot move at all ("" = movable)
  double arrived = 0;    // when it started running on this node
  double demand = 1;     // runnable share it adds to a run queue (1: CPU-bound)
  double rss_mb = 0;
  int moves = 0;         // times it moved before (a guest: at least 1)
  double left_s = -1;    // expected work ahead from the job history (reference CPU-s); -1: unknown
};

struct AutoBalanceParams {
  // At most 2 migrations from this node at once (CRIU dumps on one node take turns anyway), and
  // no more than the node has CPUs: on one CPU two handoffs only share it, and both jobs stay
  // frozen until the later one lands (under TCG the first of two concurrent 16 MB moves from a
  // busy node was frozen 3-5 s, a single one about 2 s).
  BalancerParams plan = [] {
    BalancerParams b;
    b.max_outgoing = 2;
    return b;
  }();
  double period_s = 1;     // between rounds
  // After a migration from here ends, before the next round: one load sample (0.5 s), so this
  // node's own figure no longer counts the job that left.
  double settle_s = 0.5;
  // A target's load figures show a job that moved there once they were sampled this long after
  // the move ended (grapped samples every 0.5 s); until then the job is added to them here, so a
  // stale figure does not draw a second job, and the next move need not wait for the figures.
  double fresh_s = 0.6;
  double idle_share = 0.2; // a job runnable less often than this is not moved for CPU load
};

class AutoBalancer {
 public:
  explicit AutoBalancer(AutoBalanceParams p = {}) : p_(p) {}
  // True when a round is due at `now` (the daemon samples jobs only then). `outgoing`:
  // migrations from this node in flight (their jobs are not offered to round()).
  bool due(double now, int outgoing);
  // A peer's load just fell (a job ended or left there): the next round comes now rather than at
  // the end of its period, but no sooner than a quarter second after the last one.
  void hurry(double now) { next_ = std::min(next_, std::max(now, last_round_ + 0.25)); }
  // One round: the moves to start now, each with its reason.
  std::vector<Decision> round(double now, const NodeView& self, const std::vector<LocalJob>& jobs,
                              const std::vector<NodeView>& peers, int outgoing);
  // A migration from here took `freeze_s` for `mb` of images: the cost model follows what moves
  // really cost on this cluster (an emulated one is far slower than the defaults).
  void observed(double freeze_s, double mb);
  double fixed_cost_s() const { return p_.plan.fixed_cost_s; }
  // Why a job stayed in the last round ("" if it was moved or is unknown).
  std::string why_stays(const std::string& id) const;

 private:
  struct Sent {  // a move this balancer started, until the target's figures show it
    int target;
    double demand, decided;
  };
  AutoBalanceParams p_;
  int limit_ = p_.plan.max_outgoing;  // moves in flight at most: max_outgoing, or fewer CPUs (last round)
  double next_ = 0, last_busy_ = -1e9;  // when a migration from here was last seen in flight
  double last_round_ = -1e9;
  std::vector<Sent> sent_;
  // When each peer came into view (alive with a load entry). Peers seen in the first round count
  // as known for ever; a node that appears later is a newcomer, which jobs that already moved may
  // still go to (balancer.h: no ping-pong).
  std::map<int, double> seen_;
  bool first_round_ = true;
  std::map<std::string, std::string> stays_;
};

}  // namespace grappe
