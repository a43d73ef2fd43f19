// The load balancer's decision, as pure logic (openMosix/MOSIX style, no master): every node
// asks it about once a second, with its own jobs and its current view of the others, whether
// to send one job away and where. It answers with one move or none, and why.
//
// CPU: a job's expected progress rate on a node is speed × min(1, cpus / runnable), counting the
// job itself on the target. The work still ahead of a job W (reference CPU-seconds) comes from
// the history of finished jobs with the same command (job_history.h) when there is one; then the
// time left here is S = W × 1000 / rate_here. Without history, its time T on this node is the
// estimate (MOSIX): S = T, and a job that just landed must prove itself again before it moves on.
// A move pays if  S × rate_here / rate_there + cost + min_gain  <  S × (1 − margin): the saving
// must beat the measured cost plus a margin, so a job near its known end is never moved. Counting
// the job on the target gives the hysteresis: two equally loaded nodes never trade jobs back and
// forth, and a job never moves to a node where it would run no faster. Jobs younger than the
// minimum residency (1 s) never move, so short processes stay where they start; past it the cost
// model alone decides, so a burst's first moves leave as soon as they pay.
// A job moves at most once for CPU among the nodes it already knew (no ping-pong): a job that has
// moved before moves again for CPU only to a node that came into the view after it landed here
// (a node that joined since). The loads among the nodes it knew when it moved change only as the
// burst's own jobs move and end, which its first move already answered; a newcomer is new
// capacity, which the burst did not account for. Such a second move also needs the history's
// estimate (the work done travels in the offer): age says nothing of a job that just landed.
// After 30 s on its new node (settled_s) the burst's own moves are long over, so what changed the
// loads since is something else (jobs started or ended elsewhere), and the job may move again.
// Memory ushering and the admin's expel/bring are not bound by this rule.
// Memory ushering: below the free-memory threshold a node sends its biggest movable job that fits
// to the least loaded node with room, even if CPU load gets less even. No job ever goes where it
// would push free memory under the threshold.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace grappe {

// Admin flags, as carried in load entries (LoadInfo::flags).
enum NodeFlag : uint16_t {
  kFlagBlock = 1,   // refuse guests
  kFlagLstay = 2,   // local jobs stay home
  kFlagStay = 4,    // no automatic migration from this node
  kFlagExpel = 8,   // guests are being sent home; refuse new ones
  kFlagFull = 16,   // at its guest limit (maxguests)
};

struct NodeView {
  int node = 0;            // caller's handle (node number)
  bool alive = true;       // alive in membership (suspect, dead, left: false)
  double info_age_s = 0;   // age of the load entry
  int cpus = 1;
  double speed = 1000;     // relative CPU speed
  double load = 0;         // runnable jobs (smoothed run queue)
  double mem_free_mb = 0;
  uint16_t flags = 0;
  int guests = 0, max_guests = 1 << 20;
  int incoming = 0;        // migrations to it in flight (as the caller knows)
  double known_s = 1e18;   // how long it has been in the caller's view (a newcomer: small)
};

struct JobView {
  std::string id;
  bool guest = false;      // not started here
  double age_s = 0;        // time on this node (residency)
  double cpu = 1;          // runnable share it adds (1 for a CPU-bound job)
  double rss_mb = 0;
  bool movable = true;     // no node-local files, sockets, devices
  bool stay = false;       // grappe run --stay
  int moves = 0;           // times it has moved before (0: never left its home)
  double left_s = -1;      // expected work still ahead, reference CPU-seconds (history); -1: unknown
};

struct BalancerParams {
  double min_residency_s = 1;
  double margin = 0.1;            // move only for a >10% better expected finish
  double min_gain_s = 1;          // and at least this many seconds sooner, over the cost
  double settled_s = 30;          // a job that moved may move again among known nodes after this
  double fixed_cost_s = 1.5;      // freeze + restore overhead of one migration
  double bandwidth_mb_s = 50;     // image transfer speed
  double mem_low_mb = 128;        // ushering threshold
  double max_info_age_s = 5;      // ignore older load entries
  int max_outgoing = 4;           // migrations from this node in flight
  int max_incoming = 2;           // to any one node
};

struct Decision {
  std::string job;
  int target = 0;
  std::string reason;
};

// `outgoing`: migrations from this node already in flight.
std::optional<Decision> decide(const NodeView& self, const std::vector<JobView>& jobs, const std::vector<NodeView>& peers,
                               int outgoing, const BalancerParams& p = {});

// One balancing round: decide() repeatedly, each move counted in the views before the next
// (this node one job lighter, the target one heavier), until nothing pays or the outgoing limit.
std::vector<Decision> plan(NodeView self, std::vector<JobView> jobs, std::vector<NodeView> peers, int outgoing,
                           const BalancerParams& p = {});

// Why a job stays (for `grappe ps`), empty if it may be considered for moving.
std::string stay_reason(const NodeView& self, const JobView& j, const BalancerParams& p = {});

double rate_on(const NodeView& n, double extra_load);  // a CPU-bound job's expected rate

}  // namespace grappe
