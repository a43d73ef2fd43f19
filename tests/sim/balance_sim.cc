#include "balance_sim.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <string>

#include "balance/job_history.h"

namespace grappe {

double ideal_makespan(const std::vector<SimNodeSpec>& nodes, const std::vector<SimJobSpec>& jobs) {
  double fastest = 0, total = 0, first = 1e300, lb = 0;
  for (const auto& n : nodes) fastest = std::max(fastest, n.speed / 1000);
  for (const auto& j : jobs) {
    total += j.work;
    first = std::min(first, j.arrival);
    lb = std::max(lb, j.arrival + j.work / fastest);
  }
  if (jobs.empty()) return 0;
  auto done_by = [&](double t) {  // work the whole cluster can do from `first` to t
    double w = 0;
    for (const auto& n : nodes) w += n.cpus * n.speed / 1000 * std::max(0.0, t - std::max(first, n.join_at));
    return w;
  };
  double lo = first, hi = first + 1;
  while (done_by(hi) < total) hi = first + 2 * (hi - first);
  for (int i = 0; i < 100; ++i) (done_by((lo + hi) / 2) < total ? lo : hi) = (lo + hi) / 2;
  return std::max(lb, hi);
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
  JobHistory history;
  for (const auto& [cmd, runs] : cfg.history)
    for (double w : runs) history.record(cmd, w);
  auto active = [&](int i, double now) { return now >= nodes[static_cast<size_t>(i)].join_at; };
  BalanceSimResult r;
  r.idle_s.assign(static_cast<size_t>(n), 0);
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
      for (int i = 0; i < n; ++i) {
        NodeView& v = ns[static_cast<size_t>(i)].published;
        v = view(i, ns[static_cast<size_t>(i)]);
        v.alive = active(i, t);
      }
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
          const SimJobSpec& spec = jobs[static_cast<size_t>(j)];
          const Job& jb = js[static_cast<size_t>(j)];
          JobView v;
          v.id = std::to_string(j);
          v.guest = spec.origin != i;
          v.age_s = t - jb.since;
          v.rss_mb = spec.rss_mb;
          v.moves = jb.migrations;
          if (!spec.command.empty()) v.left_s = history.left(spec.command, spec.work - jb.left);  // work done travels
          jv.push_back(v);
        }
        std::vector<int> others;
        for (int p = 0; p < n; ++p)
          if (p != i && active(p, t)) others.push_back(p);
        std::vector<NodeView> peers;
        // A window of distinct peers (a member table holds each node once).
        const size_t window = std::min(others.size(), static_cast<size_t>(std::max(0, cfg.sample)));
        for (size_t s = 0; s < window; ++s) {
          std::swap(others[s], others[s + static_cast<size_t>(rng() % (others.size() - s))]);
          int p = others[s];
          NodeView v = ns[static_cast<size_t>(p)].published;
          v.incoming = ns[static_cast<size_t>(p)].incoming;  // the target refuses over its limit
          const double joined = nodes[static_cast<size_t>(p)].join_at;
          v.known_s = joined > 0 ? t - joined : 1e18;  // as a node's balancer sees a newcomer
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
      if (nd.jobs.empty() && active(i, t) && nd.incoming == 0) r.idle_s[static_cast<size_t>(i)] += cfg.dt;
      if (nd.jobs.empty()) continue;
      const auto& spec = nodes[static_cast<size_t>(i)];
      double rate = spec.speed / 1000 * std::min(1.0, static_cast<double>(spec.cpus) / static_cast<double>(nd.jobs.size()));
      for (size_t k = 0; k < nd.jobs.size();) {
        Job& jb = js[static_cast<size_t>(nd.jobs[k])];
        jb.left -= rate * cfg.dt;
        if (jb.left <= 1e-9) {
          ++finished;
          const SimJobSpec& done = jobs[static_cast<size_t>(nd.jobs[k])];
          if (!done.command.empty() && jb.migrations == 0) history.record(done.command, done.work);
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
