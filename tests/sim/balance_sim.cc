#include "balance_sim.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <string>

namespace grappe {

double ideal_makespan(const std::vector<SimNodeSpec>& nodes, const std::vector<SimJobSpec>& jobs) {
  double capacity = 0, fastest = 0, total = 0, first = 1e300, lb = 0;
  for (const auto& n : nodes) capacity += n.cpus * n.speed / 1000, fastest = std::max(fastest, n.speed / 1000);
  for (const auto& j : jobs) {
    total += j.work;
    first = std::min(first, j.arrival);
    lb = std::max(lb, j.arrival + j.work / fastest);
  }
  return std::max(lb, (jobs.empty() ? 0 : first) + total / capacity);
}

BalanceSimResult simulate_balance(const std::vector<SimNodeSpec>& nodes, const std::vector<SimJobSpec>& jobs,
                                  const BalanceSimConfig& cfg) {
  auto wall0 = std::chrono::steady_clock::now();
  struct Job {
    int node = -1;         // where it runs (or lands, while in transit)
    double left = 0;       // work left
    double since = 0;      // arrival on its current node
    double transit_until = -1;
    int migrations = 0;
    int prev_node = -1;
    double left_prev_at = -1e9;
  };
  struct Node {
    std::vector<int> jobs;  // running here
    int incoming = 0, outgoing = 0, guests = 0;
    NodeView published;  // what the others see (last gossip round)
    double phase = 0;
  };
  const int n = static_cast<int>(nodes.size());
  std::mt19937_64 rng(cfg.seed);
  std::vector<Node> ns(static_cast<size_t>(n));
  std::vector<Job> js(jobs.size());
  std::vector<size_t> order(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) order[i] = i, js[i].left = jobs[i].work;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return jobs[a].arrival < jobs[b].arrival; });
  std::uniform_real_distribution<double> u01(0, 1);
  for (auto& nd : ns) nd.phase = u01(rng) * cfg.round_s;
  std::vector<int> in_transit;
  BalanceSimResult r;
  r.ideal = ideal_makespan(nodes, jobs);
  auto view = [&](int i, const Node& nd) {
    NodeView v;
    v.node = i;
    v.cpus = nodes[static_cast<size_t>(i)].cpus;
    v.speed = nodes[static_cast<size_t>(i)].speed;
    v.load = static_cast<double>(nd.jobs.size() + static_cast<size_t>(nd.incoming));
    double used = 0;
    for (int j : nd.jobs) used += jobs[static_cast<size_t>(j)].rss_mb;
    v.mem_free_mb = nodes[static_cast<size_t>(i)].mem_mb - used;
    v.guests = nd.guests;
    v.incoming = nd.incoming;
    return v;
  };
  size_t next_arrival = 0, finished = 0;
  double t = 0, next_gossip = 0;
  std::vector<int> sample;
  while (finished < jobs.size()) {
    // Arrivals and landings.
    for (; next_arrival < order.size() && jobs[order[next_arrival]].arrival <= t; ++next_arrival) {
      size_t j = order[next_arrival];
      js[j].node = jobs[j].origin;
      js[j].since = t;
      ns[static_cast<size_t>(js[j].node)].jobs.push_back(static_cast<int>(j));
    }
    for (size_t k = 0; k < in_transit.size();) {
      Job& jb = js[static_cast<size_t>(in_transit[k])];
      if (jb.transit_until > t) {
        ++k;
        continue;
      }
      Node& dst = ns[static_cast<size_t>(jb.node)];
      --dst.incoming;
      --ns[static_cast<size_t>(jb.prev_node)].outgoing;
      dst.jobs.push_back(in_transit[k]);
      jb.since = t;
      jb.transit_until = -1;
      in_transit[k] = in_transit.back();
      in_transit.pop_back();
    }
    if (t >= next_gossip) {
      for (int i = 0; i < n; ++i) ns[static_cast<size_t>(i)].published = view(i, ns[static_cast<size_t>(i)]);
      next_gossip = t + cfg.round_s;
    }
    // Balancing rounds, each node at its own phase.
    if (cfg.balance)
      for (int i = 0; i < n; ++i) {
        Node& nd = ns[static_cast<size_t>(i)];
        double ph = std::fmod(t + nd.phase, cfg.round_s);
        if (ph >= cfg.dt || nd.jobs.empty()) continue;
        std::vector<JobView> jv;
        for (int j : nd.jobs) {
          JobView v;
          v.id = std::to_string(j);
          v.guest = jobs[static_cast<size_t>(j)].origin != i;
          v.age_s = t - js[static_cast<size_t>(j)].since;
          v.rss_mb = jobs[static_cast<size_t>(j)].rss_mb;
          jv.push_back(v);
        }
        std::vector<NodeView> peers;
        for (int s = 0; s < std::min(cfg.sample, n - 1); ++s) {
          int p = static_cast<int>(rng() % static_cast<uint64_t>(n - 1));
          if (p >= i) ++p;
          NodeView v = ns[static_cast<size_t>(p)].published;
          v.incoming = ns[static_cast<size_t>(p)].incoming;  // the target refuses over its limit
          peers.push_back(v);
        }
        for (const auto& d : plan(view(i, nd), jv, peers, nd.outgoing, cfg.params)) {
          int j = std::stoi(d.job);
          Job& jb = js[static_cast<size_t>(j)];
          Node& dst = ns[static_cast<size_t>(d.target)];
          if (dst.incoming >= cfg.params.max_incoming) continue;  // refused at the target
          nd.jobs.erase(std::find(nd.jobs.begin(), nd.jobs.end(), j));
          if (jobs[static_cast<size_t>(j)].origin != i) --nd.guests;
          if (jobs[static_cast<size_t>(j)].origin != d.target) ++dst.guests;
          if (d.target == jb.prev_node && t - jb.left_prev_at < 10) ++r.pingpongs;
          jb.prev_node = i;
          jb.left_prev_at = t;
          jb.node = d.target;
          jb.transit_until = t + cfg.params.fixed_cost_s + jobs[static_cast<size_t>(j)].rss_mb / cfg.params.bandwidth_mb_s;
          ++jb.migrations;
          ++r.migrations;
          r.max_migrations_per_job = std::max(r.max_migrations_per_job, jb.migrations);
          ++dst.incoming;
          ++nd.outgoing;
          in_transit.push_back(j);
        }
      }
    // Progress: processor sharing on every node.
    t += cfg.dt;
    for (int i = 0; i < n; ++i) {
      Node& nd = ns[static_cast<size_t>(i)];
      if (nd.jobs.empty()) continue;
      const auto& spec = nodes[static_cast<size_t>(i)];
      double rate = spec.speed / 1000 * std::min(1.0, static_cast<double>(spec.cpus) / static_cast<double>(nd.jobs.size()));
      for (size_t k = 0; k < nd.jobs.size();) {
        Job& jb = js[static_cast<size_t>(nd.jobs[k])];
        jb.left -= rate * cfg.dt;
        if (jb.left <= 1e-9) {
          ++finished;
          if (jobs[static_cast<size_t>(nd.jobs[k])].origin != i) --nd.guests;
          nd.jobs[k] = nd.jobs.back();
          nd.jobs.pop_back();
          r.makespan = t;
        } else {
          ++k;
        }
      }
    }
  }
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  return r;
}

}  // namespace grappe
