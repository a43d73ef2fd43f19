// The view grapped hands the network-boot service once a second (BootService::observe): the
// cluster-wide setting, whether this node is the founder that serves and who does, this node's
// IPv4 interfaces, and the networks its peers' addresses are on.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "boot/boot_service.h"

namespace grappe {

struct BootPeers {
  uint16_t self = 0;              // this node's number (0: none yet)
  uint16_t founder = 0;           // the founder's number (0: none chosen yet)
  std::string founder_name;
  std::vector<uint32_t> live_ips;  // the other live members' addresses (network order)
};

// This node's IPv4 interfaces (up, not loopback; only those named when `only` is not empty), each
// once with its first address and its MAC.
std::vector<NetIf> ipv4_interfaces(const std::vector<std::string>& only);

BootView boot_view(bool enabled, const BootPeers& peers, std::vector<NetIf> ifaces);

}  // namespace grappe
