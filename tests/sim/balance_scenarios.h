// Cluster and job-trace generators shared by the balance simulator's tests and its command line.
#pragma once
#include <random>
#include <string>
#include <vector>

#include "balance_sim.h"

namespace grappe {

// Heterogeneous: speeds 500-2000, 1-4 CPUs, 2-8 GB; homogeneous: 1 CPU at 1000, 4 GB.
inline std::vector<SimNodeSpec> make_nodes(int n, bool hetero, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<SimNodeSpec> v(static_cast<size_t>(n));
  if (hetero)
    for (auto& s : v) {
      s.speed = 500 + static_cast<double>(rng() % 1501);
      s.cpus = 1 + static_cast<int>(rng() % 4);
      s.mem_mb = 2048.0 * static_cast<double>(1 + rng() % 4);
    }
  return v;
}

// "burst": every job at t=0 on node 0, all alike (the seed paper's loop of identical encoders),
// `burst_work` seconds each on a reference CPU, command "encode".
// "skewed": arrivals over the first `spread` seconds, 80% of them on 10% of the nodes.
inline std::vector<SimJobSpec> make_jobs(const std::string& trace, int count, int nodes, double spread, uint64_t seed,
                                         double burst_work = 120) {
  std::mt19937_64 rng(seed + 7);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<SimJobSpec> v(static_cast<size_t>(count));
  int hot = std::max(1, nodes / 10);
  for (auto& j : v) {
    j.work = 30 + 90 * u(rng);
    j.rss_mb = 16 + 240 * u(rng);
    if (trace == "burst") {
      j.work = burst_work;
      j.rss_mb = 64;
      j.command = "encode";
      continue;
    }
    j.arrival = spread * u(rng);
    j.origin = u(rng) < 0.8 ? static_cast<int>(rng() % static_cast<uint64_t>(hot))
                            : static_cast<int>(rng() % static_cast<uint64_t>(nodes));
  }
  return v;
}

}  // namespace grappe
