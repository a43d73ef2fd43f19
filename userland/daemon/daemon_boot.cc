// grapped's part in the cluster's network boot: the cluster-wide setting (`grappe boot-server`,
// carried in every load entry, the newest generation wins) and the view handed to the boot
// service once a second (boot_service.h serves on its own thread).
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>

#include "daemon/daemon.h"

namespace grappe {
namespace {

// This node's IPv4 interfaces (not loopback, up), each once with its first address and its MAC.
std::vector<NetIf> ipv4_interfaces(const std::vector<std::string>& only) {
  std::vector<NetIf> out;
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return out;
  for (ifaddrs* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
    if (!only.empty() && std::find(only.begin(), only.end(), i->ifa_name) == only.end()) continue;
    if (std::any_of(out.begin(), out.end(), [&](const NetIf& n) { return n.name == i->ifa_name; })) continue;
    NetIf n;
    n.name = i->ifa_name;
    n.addr = reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr;
    n.mask = i->ifa_netmask ? reinterpret_cast<sockaddr_in*>(i->ifa_netmask)->sin_addr.s_addr : 0;
    out.push_back(n);
  }
  for (ifaddrs* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_PACKET) continue;
    auto* ll = reinterpret_cast<sockaddr_ll*>(i->ifa_addr);
    for (auto& n : out)
      if (n.name == i->ifa_name && ll->sll_halen == 6) std::copy(ll->sll_addr, ll->sll_addr + 6, n.mac.begin());
  }
  freeifaddrs(ifs);
  return out;
}

}  // namespace

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
  BootView bv;
  bv.enabled = admin_.netboot_on();
  auto founder = choose_founder(v);
  bv.server = founder && founder->number == v.self.number && v.self.number;
  if (founder) bv.founder = "node " + std::to_string(founder->number) + " (" + founder->name + ")";
  bv.ifaces = ipv4_interfaces(cfg_.interfaces);
  for (const auto& p : v.live) bv.used_nets.push_back(p.ip & htonl(0xffffff00u));
  boot_->observe(bv);
  info_.boot = boot_->status();
}

nlohmann::json Daemon::boot_command(const std::string& op, const Caller& who) {
  auto fail = [&](const std::string& why) { return nlohmann::json{{"v", 1}, {"ok", false}, {"error", "boot-server: " + why}}; };
  if (op == "enable" || op == "disable") {
    if (who.uid != 0) return fail("only root may change the cluster's network boot (try sudo grappe boot-server " + op + ")");
    NodeAdmin next = admin_;
    next.set_netboot(op == "enable");
    try {
      save_node_admin(cfg_.state_dir + "/admin.json", next);
    } catch (const std::exception& e) {
      return fail(std::string("cannot save the setting: ") + e.what());
    }
    admin_ = next;
    mb_.on_event("admin: boot-server " + op + " by uid " + std::to_string(who.uid));
  } else if (op != "status") {
    return fail("unknown operation '" + op + "': use enable, disable or status");
  }
  nlohmann::json r = info_.boot.is_object() ? info_.boot : nlohmann::json::object();
  r["enabled"] = admin_.netboot_on();
  r["v"] = 1;
  r["ok"] = true;
  return r;
}

}  // namespace grappe
