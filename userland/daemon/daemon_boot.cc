// grapped's part in the cluster's network boot: adopting the cluster-wide setting (`grappe
// boot-server`, daemon/admin_commands.h, carried in every load entry, the newest generation wins)
// and handing the boot service its view (boot/boot_view.h) once a second (boot_service.h serves on
// its own thread).
#include "boot/boot_view.h"
#include "daemon/daemon.h"

namespace grappe {

void Daemon::serve_boot(double, const HomeView& v) {
  for (const Member& m : mb_.members()) {
    if (m.state != MemberState::Alive || !m.load || !admin_.adopt_netboot(m.load->info.netboot)) continue;
    try {
      save_node_admin(cfg_.state_dir + "/admin.json", admin_);
    } catch (const std::exception& e) {
      mb_.on_event(std::string("cannot save the network-boot setting: ") + e.what());
    }
    mb_.on_event(std::string("network boot ") + (admin_.netboot_on() ? "enabled" : "disabled") + " for the cluster (seen from " +
                 m.name.str() + ")");
  }
  if (!boot_) {
    info_.boot = {{"enabled", admin_.netboot_on()}, {"role", "never here ([boot] serve = false in grapped.toml)"}};
    return;
  }
  BootPeers peers;
  peers.self = v.self.number;
  if (auto founder = choose_founder(v)) peers.founder = founder->number, peers.founder_name = founder->name;
  for (const auto& p : v.live) peers.live_ips.push_back(p.ip);
  boot_->observe(boot_view(admin_.netboot_on(), peers, ipv4_interfaces(cfg_.interfaces)));
  info_.boot = boot_->status();
}

}  // namespace grappe
