// grapped's admin settings (`grappe node …`) and its automatic balancer: once a second it turns
// the job table and the membership view into the balancer's inputs and starts the moves it picks.
#include <algorithm>
#include <utility>

#include "daemon/daemon.h"

namespace grappe {

int Daemon::guests() const {
  int n = 0;
  for (const auto& [id, j] : jobs_.table().all()) n += j.state == JobState::Running && j.guest;
  return n;
}

uint16_t Daemon::published_flags() const {
  uint16_t f = admin_.flags;
  if (admin_.max_guests >= 0 && guests() >= admin_.max_guests) f |= kFlagFull;
  return f;
}

std::string Daemon::placeable(int node) const {
  if (!mig_->unavailable().empty()) return "this node cannot migrate jobs: " + mig_->unavailable();
  for (const Member& m : mb_.members()) {
    if (m.number != node) continue;
    if (m.state != MemberState::Alive) return "node " + std::to_string(node) + " is " + state_name(m.state);
    if (m.load && (m.load->info.flags & (kFlagBlock | kFlagFull)))
      return "node " + std::to_string(node) + " takes no guests (" + flags_text(m.load->info.flags) + ")";
    return "";
  }
  return "no node " + std::to_string(node) + " in the cluster (grappe nodes lists them)";
}

nlohmann::json Daemon::node_command(const std::string& op, const std::string& value, const Caller& who) {
  auto fail = [](const std::string& why) { return nlohmann::json{{"v", 1}, {"ok", false}, {"error", "node: " + why}}; };
  nlohmann::json moving = nlohmann::json::array();
  if (op != "show") {
    if (who.uid != 0) return fail("only root may change this node's settings (try sudo grappe node " + op + ")");
    NodeAdmin next = admin_;
    std::string err;
    if (op == "expel") next.flags |= kFlagBlock;       // and no new guests from now on
    else if (op == "bring") next.flags |= kFlagLstay;  // and the balancer keeps them home
    else if (!next.apply(op, value, err)) return fail(err);
    try {
      save_node_admin(cfg_.state_dir + "/admin.json", next);
    } catch (const std::exception& e) {
      return fail(std::string("cannot save the setting: ") + e.what());
    }
    admin_ = next;
    if (op == "expel") expel_until_ = last_sample_ + 120;
    if (op == "bring") bring_until_ = last_sample_ + 120;
    if (op == "expel" || op == "bring") recalled_.clear();
    if (op == "unblock") expel_until_ = 0;  // the admin changed their mind: guests may stay
    if (op == "nolstay") bring_until_ = 0;  // and jobs may go out again
    const std::string self = mb_.self().name.str();
    for (auto& [id, j] : jobs_.table().all()) {
      if (j.state != JobState::Running || j.migrating) continue;
      bool send = (op == "expel" && j.guest) || (op == "bring" && j.remote && j.home == self);
      if (!send) continue;
      std::string why = mig_->move(id, j.home, -1, "grappe node " + op);
      if (why.empty()) recalled_.insert(id);
      moving.push_back({{"job", id}, {"from", j.node}, {"error", why}});
    }
    mb_.on_event("admin: node " + op + (value.empty() ? "" : " " + value) + " by uid " + std::to_string(who.uid) +
                 (moving.empty() ? "" : ", " + std::to_string(moving.size()) + " job(s) going home"));
  }
  nlohmann::json r = admin_.to_json();
  r["v"] = 1;
  r["ok"] = true;
  r["flags"] = flags_text(published_flags());
  r["guests"] = guests();
  r["calibrated_speed"] = ident_.speed;
  r["moving"] = moving;
  return r;
}

void Daemon::balance(double now) {
  if ((now < expel_until_ || now < bring_until_) && now >= next_recall_) {
    next_recall_ = now + 1;
    const std::string self = mb_.self().name.str();
    for (auto& [id, j] : jobs_.table().all()) {
      if (j.state != JobState::Running || j.migrating || !j.ctl_q.empty() || recalled_.count(id)) continue;
      const bool expel = now < expel_until_ && j.guest, bring = now < bring_until_ && j.remote && j.home == self;
      if ((expel || bring) && mig_->move(id, j.home, -1, expel ? "grappe node expel" : "grappe node bring").empty() &&
          recalled_.insert(id).second)
        mb_.on_event("admin: job " + id + " was on its way during node " + (expel ? "expel" : "bring") + "; sending it home");
    }
  }
  int outgoing = 0;
  for (auto& [id, j] : jobs_.table().all()) {
    if (j.state != JobState::Running || j.remote) continue;
    outgoing += j.migrating;
    if (j.place && !j.migrating && now - j.started > 0.5) {  // grappe run --node N, once it has started
      const std::string place = std::to_string(std::exchange(j.place, 0));
      auto to = resolve_node(place);
      std::string why = to ? mig_->move(id, to->name, -1, "grappe run --node " + place) : "node " + place + " is gone";
      if (!why.empty()) jobs_.deliver(j, 2, "grappe: job " + id + " stays on " + j.node + ": " + why + "\n");
      else ++outgoing;
    }
  }
  if (mb_.load_drops() != seen_drops_) {  // a peer just freed CPU: a round now, not in up to a second
    seen_drops_ = mb_.load_drops();
    auto_.hurry(now);
  }
  if (!mig_->unavailable().empty() || !auto_.due(now, outgoing)) return;
  const Member& me = mb_.self();
  NodeView self;
  self.node = me.number;
  if (me.load) {
    const LoadInfo& l = me.load->info;
    self.cpus = l.cpus, self.speed = l.speed, self.load = load_.value(), self.mem_free_mb = l.mem_free_mb;
  }
  self.flags = published_flags();
  std::vector<NodeView> peers;
  for (const Member& m : mb_.members()) {
    if (!m.load || m.id == me.id || !m.number) continue;
    const LoadInfo& l = m.load->info;
    NodeView v;
    v.node = m.number;
    v.alive = m.state == MemberState::Alive;
    v.info_age_s = now - m.load->time;
    v.cpus = l.cpus, v.speed = l.speed, v.load = l.load_milli / 1000.0, v.mem_free_mb = l.mem_free_mb, v.flags = l.flags;
    peers.push_back(v);
  }
  std::vector<LocalJob> jobs;
  for (auto& [id, j] : jobs_.table().all()) {
    auto u = usage_.find(id);
    if (j.state != JobState::Running || j.remote || j.migrating || u == usage_.end()) continue;
    jobs.push_back({id, j.guest, j.stay, why_not_movable("/proc", u->second.pids), j.arrived, load_.demand(id),
                    static_cast<double>(u->second.use.rss_kb) / 1024});
  }
  for (const Decision& d : auto_.round(now, self, jobs, peers, outgoing)) {
    auto to = resolve_node(std::to_string(d.target));
    std::string why = to ? mig_->move(d.job, to->name, -1, "balancer: " + d.reason) : "node is gone";
    mb_.on_event("balancer: job " + d.job + " to node " + std::to_string(d.target) + ": " + d.reason +
                 (why.empty() ? "" : " — not started: " + why));
  }
}

}  // namespace grappe
