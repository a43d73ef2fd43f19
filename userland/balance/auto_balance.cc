#include "balance/auto_balance.h"

#include <algorithm>
#include <cstdio>

#include "common/loop_timer.h"

namespace grappe {

bool AutoBalancer::due(double now, int outgoing) {
  if (outgoing > 0) last_busy_ = now;
  if (now < next_) return false;
  // While moves are in flight, rounds go on (jobs sent count at their targets) up to the limit.
  return outgoing > 0 ? outgoing < limit_ : now >= last_busy_ + p_.settle_s;
}

std::vector<Decision> AutoBalancer::round(double now, const NodeView& self, const std::vector<LocalJob>& jobs,
                                          const std::vector<NodeView>& peers, int outgoing) {
  next_ = now < next_ ? now + p_.period_s : next_due(next_, now, p_.period_s);  // on the loop's grid
  last_round_ = now;
  // Targets of recent moves whose figures predate the job's arrival count it here. A move still
  // unseen after 30 s (a target that stopped publishing) is forgotten.
  std::vector<NodeView> view = peers;
  std::erase_if(seen_, [&](const auto& s) {
    return std::none_of(view.begin(), view.end(), [&](const NodeView& v) { return v.node == s.first && v.alive; });
  });
  for (NodeView& v : view) {
    if (!v.alive) continue;
    const double since = seen_.emplace(v.node, first_round_ ? -1e18 : now).first->second;
    v.known_s = now - since;
  }
  first_round_ = false;
  std::erase_if(sent_, [&](const Sent& s) {
    auto t = std::find_if(view.begin(), view.end(), [&](const NodeView& v) { return v.node == s.target; });
    if (t == view.end() || now - s.decided > 30) return true;
    const double sampled = now - t->info_age_s;
    if (sampled >= std::max(s.decided, last_busy_) + p_.fresh_s) return true;
    t->load += s.demand;
    return false;
  });
  std::vector<JobView> views;
  stays_.clear();
  const bool memory_low = self.mem_free_mb < p_.plan.mem_low_mb;
  for (const LocalJob& j : jobs) {
    JobView v{j.id, j.guest, now - j.arrived, j.demand, j.rss_mb, j.why_not.empty(), j.stay, j.moves, j.left_s};
    std::string why = j.why_not.empty() ? stay_reason(self, v, p_.plan) : "cannot move: " + j.why_not;
    if (why.empty() && j.demand < p_.idle_share && !memory_low) {
      char b[64];
      std::snprintf(b, sizeof b, "mostly idle (runnable %.0f%% of the time)", j.demand * 100);
      why = b;
    }
    stays_[j.id] = why;
    if (why.empty()) views.push_back(v);
    // A job that is only too young: the round that may move it comes when it is old enough (at
    // the start of a burst, an idle peer then gets its first job up to a period sooner).
    JobView grown = v;
    grown.age_s = p_.plan.min_residency_s;
    if (v.age_s < grown.age_s && j.why_not.empty() && stay_reason(self, grown, p_.plan).empty())
      next_ = std::min(next_, std::max(j.arrived + grown.age_s, now + 0.25));
  }
  BalancerParams bp = p_.plan;
  limit_ = bp.max_outgoing = std::max(1, std::min(bp.max_outgoing, self.cpus));
  auto moves = plan(self, views, view, outgoing, bp);
  for (const JobView& v : views)
    stays_[v.id] = v.moves > 0 ? "moved once already; only a node that joins since may take it"
                               : "no other node would finish it sooner";
  for (const Decision& d : moves) {
    stays_.erase(d.job);
    auto v = std::find_if(views.begin(), views.end(), [&](const JobView& j) { return j.id == d.job; });
    sent_.push_back({d.target, v == views.end() ? 1.0 : v->cpu, now});
  }
  return moves;
}

void AutoBalancer::observed(double freeze_s, double mb) {
  const double fixed = std::max(0.2, freeze_s - mb / p_.plan.bandwidth_mb_s);
  p_.plan.fixed_cost_s = 0.7 * p_.plan.fixed_cost_s + 0.3 * fixed;
}

std::string AutoBalancer::why_stays(const std::string& id) const {
  auto it = stays_.find(id);
  return it == stays_.end() ? "" : it->second;
}

}  // namespace grappe
