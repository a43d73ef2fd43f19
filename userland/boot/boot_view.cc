#include "boot/boot_view.h"

#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>

namespace grappe {

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

BootView boot_view(bool enabled, const BootPeers& peers, std::vector<NetIf> ifaces) {
  BootView bv;
  bv.enabled = enabled;
  bv.server = peers.founder && peers.founder == peers.self;
  if (peers.founder) bv.founder = "node " + std::to_string(peers.founder) + " (" + peers.founder_name + ")";
  bv.ifaces = std::move(ifaces);
  for (uint32_t ip : peers.live_ips) bv.used_nets.push_back(ip & htonl(0xffffff00u));
  bv.member_ips = peers.live_ips;
  return bv;
}

}  // namespace grappe
