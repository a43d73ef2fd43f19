#include "balance/balancer.h"

#include <algorithm>
#include <cstdio>

namespace grappe {
namespace {

std::string fmt(const char* f, double a, double b, double c = 0) {
  char buf[160];
  std::snprintf(buf, sizeof buf, f, a, b, c);
  return buf;
}

bool can_host(const NodeView& t, const JobView& j, const BalancerParams& p) {
  return t.alive && t.info_age_s <= p.max_info_age_s && !(t.flags & (kFlagBlock | kFlagExpel | kFlagFull)) &&
         t.guests < t.max_guests && t.incoming < p.max_incoming && t.mem_free_mb - j.rss_mb >= p.mem_low_mb;
}

}  // namespace

double rate_on(const NodeView& n, double extra_load) {
  double q = std::max(1.0, n.load + extra_load);
  return n.speed * std::min(1.0, n.cpus / q);
}

std::string stay_reason(const NodeView& self, const JobView& j, const BalancerParams& p) {
  if (!j.movable) return "cannot move";
  if (j.stay) return "started with --stay";
  if (self.flags & kFlagStay) return "this node is set to stay (grappe node stay)";
  if ((self.flags & kFlagLstay) && !j.guest) return "local jobs stay home (grappe node lstay)";
  if (j.age_s < p.min_residency_s) return "too young to move";
  return "";
}

std::optional<Decision> decide(const NodeView& self, const std::vector<JobView>& jobs, const std::vector<NodeView>& peers,
                               int outgoing, const BalancerParams& p) {
  if (outgoing >= p.max_outgoing) return std::nullopt;
  std::vector<const JobView*> candidates;
  for (const auto& j : jobs)
    if (stay_reason(self, j, p).empty()) candidates.push_back(&j);
  if (candidates.empty()) return std::nullopt;

  // Memory ushering first: the biggest job that fits somewhere, to the least loaded such node.
  if (self.mem_free_mb < p.mem_low_mb) {
    std::sort(candidates.begin(), candidates.end(), [](auto* a, auto* b) { return a->rss_mb > b->rss_mb; });
    for (const JobView* j : candidates) {
      const NodeView* best = nullptr;
      for (const auto& t : peers)
        if (t.node != self.node && can_host(t, *j, p) && (!best || rate_on(t, j->cpu) > rate_on(*best, j->cpu))) best = &t;
      if (best)
        return Decision{j->id, best->node,
                        fmt("memory: %.0f MB free here, under the %.0f MB threshold; job uses %.0f MB", self.mem_free_mb,
                            p.mem_low_mb, j->rss_mb)};
    }
  }

  // CPU: the move with the largest expected saving that beats staying by the margin.
  std::optional<Decision> best;
  double best_gain = p.min_gain_s;
  const double here = rate_on(self, 0);  // self.load already counts our jobs
  // The most crowded peers go first: a target with no idle CPU left is yielded to a peer whose
  // jobs run a quarter slower than ours (it would send there too, and both would overfill it).
  double rival = here;
  for (const auto& r : peers)
    if (r.node != self.node && r.alive && r.info_age_s <= p.max_info_age_s && r.load > r.cpus)
      rival = std::min(rival, rate_on(r, 0));
  for (const JobView* j : candidates) {
    const double cost = p.fixed_cost_s + j->rss_mb / p.bandwidth_mb_s;
    for (const auto& t : peers) {
      if (t.node == self.node || !can_host(t, *j, p)) continue;
      // Moved once among these nodes already; and a second move must know it pays (history).
      // After settled_s here, the burst's own moves are long over: what changed the loads since is
      // something else (jobs started or ended elsewhere), and the job may move again.
      if (j->moves > 0 && j->age_s < p.settled_s && (t.known_s >= j->age_s || j->left_s < 0)) continue;
      const double there = rate_on(t, j->cpu);
      if (there <= here) continue;
      if (rival < here * 0.75 && t.load + j->cpu > t.cpus) continue;  // no idle CPU there: the rival's turn
      const bool known = j->left_s >= 0;
      const double stay_time = known ? j->left_s * 1000 / here : j->age_s;  // expected time left here
      const double move_time = (known ? j->left_s * 1000 / there : stay_time * here / there) + cost;
      const double gain = stay_time * (1 - p.margin) - move_time;
      if (gain > best_gain) {
        best_gain = gain;
        best = Decision{j->id, t.node,
                        fmt(known ? "cpu: expected rate %.0f here, %.0f there; saves about %.1f s (history)"
                                  : "cpu: expected rate %.0f here, %.0f there; saves about %.1f s",
                            here, there, stay_time - move_time)};
      }
    }
  }
  return best;
}

std::vector<Decision> plan(NodeView self, std::vector<JobView> jobs, std::vector<NodeView> peers, int outgoing,
                           const BalancerParams& p) {
  std::vector<Decision> out;
  while (auto d = decide(self, jobs, peers, outgoing, p)) {
    auto j = std::find_if(jobs.begin(), jobs.end(), [&](const JobView& v) { return v.id == d->job; });
    auto t = std::find_if(peers.begin(), peers.end(), [&](const NodeView& v) { return v.node == d->target; });
    self.load = std::max(0.0, self.load - j->cpu);
    self.mem_free_mb += j->rss_mb;
    t->load += j->cpu;
    t->mem_free_mb -= j->rss_mb;
    ++t->incoming;
    ++t->guests;
    jobs.erase(j);
    ++outgoing;
    out.push_back(std::move(*d));
  }
  return out;
}

}  // namespace grappe
