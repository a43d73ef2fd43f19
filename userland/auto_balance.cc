#include "auto_balance.h"

#include <algorithm>
#include <cstdio>

namespace grappe {

bool AutoBalancer::due(double now, int outgoing) {
  if (outgoing > 0) quiet_until_ = std::max(quiet_until_, now + p_.settle_s);
  return outgoing == 0 && now >= next_ && now >= quiet_until_;
}

std::vector<Decision> AutoBalancer::round(double now, const NodeView& self, const std::vector<LocalJob>& jobs,
                                          const std::vector<NodeView>& peers, int outgoing) {
  next_ = now + p_.period_s;
  std::vector<JobView> views;
  stays_.clear();
  const bool memory_low = self.mem_free_mb < p_.plan.mem_low_mb;
  for (const LocalJob& j : jobs) {
    JobView v{j.id, j.guest, now - j.arrived, j.demand, j.rss_mb, j.why_not.empty(), j.stay};
    std::string why = j.why_not.empty() ? stay_reason(self, v, p_.plan) : "cannot move: " + j.why_not;
    if (why.empty() && j.demand < p_.idle_share && !memory_low) {
      char b[64];
      std::snprintf(b, sizeof b, "mostly idle (runnable %.0f%% of the time)", j.demand * 100);
      why = b;
    }
    stays_[j.id] = why;
    if (why.empty()) views.push_back(v);
  }
  auto moves = plan(self, views, peers, outgoing, p_.plan);
  for (const JobView& v : views) stays_[v.id] = "no other node would finish it sooner";
  for (const Decision& d : moves) stays_.erase(d.job);
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
