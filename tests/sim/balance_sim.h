// A discrete-time simulator that drives the real balancer (userland/balancer.cc) with simulated
// nodes of different speeds, CPU counts and memory, a job arrival trace, stale load views (each
// node sees a random sample of the others as they were at the last gossip round), and a
// migration cost of fixed + RSS / bandwidth during which the job makes no progress.
// Each CPU is shared equally among the jobs on its node (processor sharing). Jobs with a command
// have their remaining work estimated from a job history (job_history.h) that the finished
// unmoved jobs feed, as grapped's does; nodes may join part way through.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "balance/balancer.h"

namespace grappe {

struct SimNodeSpec {
  int cpus = 1;
  double speed = 1000;  // work units per CPU-second; 1000 is the reference node
  double mem_mb = 4096;
  double join_at = 0;   // not in the cluster before then
};

struct SimJobSpec {
  double arrival = 0;
  int origin = 0;
  double work = 60;  // seconds on a reference CPU
  double rss_mb = 64;
  std::string command;  // its history key ("": none, the balancer goes by age)
};

struct BalanceSimConfig {
  double dt = 0.1;
  double round_s = 1.0;  // balancer period on every node
  int sample = 32;       // peers a node considers per round (its load-vector window)
  bool balance = true;
  uint64_t seed = 1;
  BalancerParams params;
  std::map<std::string, std::vector<double>> history;  // runs recorded before the trace starts
};

struct BalanceSimResult {
  double makespan = 0, ideal = 0;
  uint64_t migrations = 0;
  int max_migrations_per_job = 0;
  uint64_t pingpongs = 0;  // a job sent back to the node it left less than 10 s before
  std::vector<double> idle_s;  // per node: time with no job while some job was still unfinished
  double wall_s = 0;
  double ratio() const { return ideal > 0 ? makespan / ideal : 0; }
};

BalanceSimResult simulate_balance(const std::vector<SimNodeSpec>& nodes, const std::vector<SimJobSpec>& jobs,
                                  const BalanceSimConfig& cfg);

// Lower bound on the makespan: no job before its arrival finishes faster than on the fastest CPU,
// and all the work cannot finish faster than the whole cluster's capacity allows (a node that
// joins late adds its capacity from then on).
double ideal_makespan(const std::vector<SimNodeSpec>& nodes, const std::vector<SimJobSpec>& jobs);

}  // namespace grappe
