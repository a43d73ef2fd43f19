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
  std::map<std::string, Sample> seen;
  std::vector<JobView> views;
  stays_.clear();
  const bool memory_low = self.mem_free_mb < p_.plan.mem_low_mb;
  for (const LocalJob& j : jobs) {
    Sample s{now, j.cpu_s, -1};
    if (auto it = samples_.find(j.id); it != samples_.end() && now > it->second.t)
      s.share = std::clamp((j.cpu_s - it->second.cpu_s) / (now - it->second.t), 0.0, double(self.cpus));
    seen[j.id] = s;
    JobView v{j.id, j.guest, now - j.arrived, s.share < 0 ? 1 : s.share, j.rss_mb, j.why_not.empty(), j.stay};
    std::string why = j.why_not.empty() ? stay_reason(self, v, p_.plan) : "cannot move: " + j.why_not;
    if (why.empty() && s.share < 0) why = "its CPU use is being measured";
    if (why.empty() && s.share < p_.idle_share && !memory_low) {
      char b[64];
      std::snprintf(b, sizeof b, "mostly idle (%.0f%% CPU)", s.share * 100);
      why = b;
    }
    stays_[j.id] = why;
    if (why.empty()) views.push_back(v);
  }
  samples_ = std::move(seen);
  auto moves = plan(self, views, peers, outgoing, p_.plan);
  for (const JobView& v : views) stays_[v.id] = "no other node would finish it sooner";
  for (const Decision& d : moves) stays_.erase(d.job);
  return moves;
}

std::string AutoBalancer::why_stays(const std::string& id) const {
  auto it = stays_.find(id);
  return it == stays_.end() ? "" : it->second;
}

double AutoBalancer::share(const std::string& id) const {
  auto it = samples_.find(id);
  return it == samples_.end() || it->second.share < 0 ? 1 : it->second.share;
}

}  // namespace grappe
