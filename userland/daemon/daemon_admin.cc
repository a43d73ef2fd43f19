// What grapped's admin settings (daemon/admin_commands.h) and balancing work (balance/balance_loop.h)
// need of the daemon: guests and flags, where run --node may place a job, and the job table and
// membership view handed to the balancing work each loop turn.
#include <algorithm>
#include <utility>

#include "daemon/daemon.h"

namespace grappe {

int Daemon::guests() const { return grappe::guests(jobs_.table()); }

uint16_t Daemon::published_flags() const { return grappe::published_flags(admin_, jobs_.table()); }

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

// The job table and the member table as the balancing work (balance/balance_loop.h) sees them.
class Daemon::World final : public BalanceWorld {
 public:
  explicit World(Daemon& d) : d_(d) {}
  std::vector<BalanceJob> jobs() const override {
    std::vector<BalanceJob> out;
    for (const auto& [id, j] : d_.jobs_.table().all())
      out.push_back({id, j.home, j.state == JobState::Running, j.remote, j.migrating, j.guest, !j.ctl_q.empty(), j.started, j.place});
    return out;
  }
  std::string self_name() const override { return d_.mb_.self().name.str(); }
  std::string unavailable() const override { return d_.mig_->unavailable(); }
  uint64_t load_drops() const override { return d_.mb_.load_drops(); }
  std::string move(const std::string& job, const std::string& to, const std::string& reason) override {
    return d_.mig_->move(job, to, -1, reason);
  }
  std::optional<std::string> node_name(int number) const override {
    auto a = d_.resolve_node(std::to_string(number));
    return a ? std::optional<std::string>(a->name) : std::nullopt;
  }
  void place_done(const std::string& job) override {
    if (Job* j = d_.jobs_.table().find(job)) j->place = 0;
  }
  void tell(const std::string& job, const std::string& line) override {
    if (Job* j = d_.jobs_.table().find(job)) d_.jobs_.deliver(*j, 2, line);
  }
  void log(const std::string& line) override { d_.mb_.on_event(line); }
  NodeView self_view() const override;
  std::vector<NodeView> peer_views(double now) const override;
  std::vector<LocalJob> local_jobs() const override;

 private:
  Daemon& d_;
};

NodeView Daemon::World::self_view() const {
  const Member& me = d_.mb_.self();
  NodeView self;
  self.node = me.number;
  if (me.load) {
    const LoadInfo& l = me.load->info;
    self.cpus = l.cpus, self.speed = l.speed, self.load = d_.load_.value(), self.mem_free_mb = l.mem_free_mb;
  }
  self.flags = d_.published_flags();
  return self;
}

std::vector<NodeView> Daemon::World::peer_views(double now) const {
  std::vector<NodeView> peers;
  for (const Member& m : d_.mb_.members()) {
    if (!m.load || m.id == d_.mb_.self().id || !m.number) continue;
    const LoadInfo& l = m.load->info;
    NodeView v;
    v.node = m.number;
    v.alive = m.state == MemberState::Alive;
    v.info_age_s = now - m.load->time;
    v.cpus = l.cpus, v.speed = l.speed, v.load = l.load_milli / 1000.0, v.mem_free_mb = l.mem_free_mb, v.flags = l.flags;
    peers.push_back(v);
  }
  return peers;
}

std::vector<LocalJob> Daemon::World::local_jobs() const {
  std::vector<LocalJob> jobs;
  for (const auto& [id, j] : d_.jobs_.table().all()) {
    auto u = d_.usage_.find(id);
    if (j.state != JobState::Running || j.remote || j.migrating || u == d_.usage_.end()) continue;
    LocalJob l{id, j.guest, j.stay, why_not_movable("/proc", u->second.pids), j.arrived, d_.load_.demand(id),
               static_cast<double>(u->second.use.rss_kb) / 1024};
    l.moves = j.guest ? std::max(1, j.migrations) : j.migrations;
    // Work done: its CPU time here, plus what the offer said it had done before (a move).
    const double speed = d_.admin_.speed ? d_.admin_.speed : d_.ident_.speed;
    l.left_s = d_.history_.left(command_key(j.argv), j.work_before + u->second.use.cpu_s * speed / 1000);
    jobs.push_back(std::move(l));
  }
  return jobs;
}

void Daemon::balance(double now) {
  World w(*this);
  balance_.step(now, w);
}

}  // namespace grappe

namespace grappe {

nlohmann::json Daemon::home_hand_over(bool kill, const Caller& who) {
  if (who.uid != 0) return {{"v", 1}, {"ok", false}, {"error", "home hand-over: only root may move /home (try sudo grappe home hand-over)"}};
  if (!home_) return {{"v", 1}, {"ok", false}, {"error", "home hand-over: /home is not shared ([home] share = false)"}};
  const std::string why = home_->request_hand_over(kill);
  if (!why.empty()) return {{"v", 1}, {"ok", false}, {"serving", why != HomeShare::kNotServing}, {"error", "home hand-over: " + why}};
  mb_.on_event("admin: /home hand-over asked by uid " + std::to_string(who.uid) + (kill ? " (shutdown)" : ""));
  return {{"v", 1}, {"ok", true}};
}

}  // namespace grappe
