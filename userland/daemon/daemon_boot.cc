// grapped's part in the cluster's network boot: adopting the cluster-wide setting (`grappe
// boot-server`, daemon/admin_commands.h, carried in every load entry, the newest generation wins)
// and handing the boot service its view (boot/boot_view.h) once a second (boot_service.h serves on
// its own thread).
#include <thread>

#include "boot/boot_admit.h"
#include "boot/boot_view.h"
#include "boot/cluster_policy.h"
#include "daemon/daemon.h"

namespace grappe {

// `grappe admit|deny MAC` (policy ask): root's answer for a PC waiting on this serving node.
nlohmann::json Daemon::answer_admission(const std::string& op, const std::string& mac, const Caller& who) {
  auto fail = [&](const std::string& why) {
    return nlohmann::json{{"v", 1}, {"ok", false}, {"error", op + ": " + why}};
  };
  if (who.uid != 0) return fail("only root may let a PC into the cluster (try sudo grappe " + op + " " + mac + ")");
  if (canonical_mac(mac).empty()) return fail("'" + mac + "' is not a MAC address (like 52:54:00:12:34:56)");
  const std::string by = "uid " + std::to_string(who.uid) + " on " + ident_.name;
  if (boot_ && boot_->serving()) return answer_here(mac, op == "admit", by);
  if (!boot_server_ || boot_server_ == mb_.self().number)
    return fail("no node serves network boot now (grappe boot-server enable turns it on)");
  if (!mig_) return fail("cannot reach the node serving network boot: migration is off on this node");
  mig_->forward_admission(std::to_string(boot_server_), mac, op == "admit", by, who.client);
  return nullptr;
}

nlohmann::json Daemon::answer_here(const std::string& mac, bool admit, const std::string& by) {
  const std::string op = admit ? "admit" : "deny";
  if (!boot_) return {{"v", 1}, {"ok", false}, {"error", op + ": this node does not take part in network boot"}};
  if (std::string why = boot_->answer(mac, admit); !why.empty()) return {{"v", 1}, {"ok", false}, {"error", op + ": " + why}};
  {
    std::unique_lock<std::mutex> l(mu_, std::defer_lock);
    const bool mine = std::this_thread::get_id() == loop_thread_;  // the loop holds the lock already
    if (!mine) l.lock();
    mb_.on_event("admin: " + op + " " + mac + " by " + by);
  }
  nlohmann::json r = boot_->status();
  r["v"] = 1;
  r["ok"] = true;
  r["server"] = ident_.name;
  return r;
}

// The cluster-wide settings (network boot on or off, the admission policy) heard in the live
// members' load entries: a newer one is adopted, saved and logged.
void Daemon::adopt_boot_settings() {
  for (const Member& m : mb_.members()) {
    if (m.state != MemberState::Alive || !m.load) continue;
    const bool netboot = admin_.adopt_netboot(m.load->info.netboot);
    const bool policy = newer_policy_setting(m.load->info.admission, admin_.admission);
    if (policy) admin_.admission = m.load->info.admission;
    if (!netboot && !policy) continue;
    try {
      save_node_admin(cfg_.state_dir + "/admin.json", admin_);
    } catch (const std::exception& e) {
      mb_.on_event(std::string("cannot save the cluster's boot settings: ") + e.what());
    }
    if (netboot)
      mb_.on_event(std::string("network boot ") + (admin_.netboot_on() ? "enabled" : "disabled") + " for the cluster (seen from " +
                   m.name.str() + ")");
    if (policy)
      mb_.on_event(std::string("admission policy ") +
                   admit_policy_name(effective_policy(admin_.admission, cfg_.boot_admission).policy) +
                   " for the cluster (seen from " + m.name.str() + ")");
  }
}

void Daemon::serve_boot(double, const HomeView& v) {
  adopt_boot_settings();
  if (!boot_) {
    const EffectivePolicy pol = effective_policy(admin_.admission, cfg_.boot_admission);
    info_.boot = {{"enabled", admin_.netboot_on()},
                  {"role", "never here ([boot] serve = false in grapped.toml)"},
                  {"admission_policy", {{"policy", admit_policy_name(pol.policy)}, {"from", pol.from}}}};
    return;
  }
  BootPeers peers;
  peers.self = v.self.number;
  if (auto founder = choose_founder(v)) peers.founder = founder->number, peers.founder_name = founder->name;
  boot_server_ = peers.founder;
  for (const auto& p : v.live) peers.live_ips.push_back(p.ip);
  BootView bv = boot_view(admin_.netboot_on(), peers, ipv4_interfaces(cfg_.interfaces));
  bv.admission_setting = admin_.admission;
  boot_->observe(bv);
  info_.boot = boot_->status();
}

}  // namespace grappe
