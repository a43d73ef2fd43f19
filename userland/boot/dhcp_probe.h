// Is there already a DHCP server on this segment? The boot service asks before it serves: if one
// answers a DHCPDISCOVER, it runs proxy-DHCP only (addresses stay with that server); if none does,
// it runs a full DHCP server on a private range. The probe never requests or takes an address.
// The packet codec is pure (and fuzzed); the socket is a seam.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace grappe {

struct DhcpOffer {
  uint32_t server = 0;  // option 54 (server identifier), network order; 0 if absent
  uint32_t offered = 0; // yiaddr, network order
  uint32_t mask = 0;    // option 1, network order; 0 if absent
};

// A DHCPDISCOVER from `mac` with transaction id `xid`, asking for a broadcast reply.
std::vector<uint8_t> dhcp_discover(const std::array<uint8_t, 6>& mac, uint32_t xid);
// The DHCPOFFER answering `xid` in `p`, or nullopt for anything else (other replies, other
// transactions, malformed or truncated packets, options running past the end).
std::optional<DhcpOffer> parse_dhcp_offer(const uint8_t* p, size_t n, uint32_t xid);

class DhcpSocket {
 public:
  virtual ~DhcpSocket() = default;
  virtual bool send(const std::vector<uint8_t>& packet) = 0;              // broadcast to port 67
  virtual std::optional<std::vector<uint8_t>> recv(double timeout_s) = 0;  // one datagram on port 68
};

// Sends up to `attempts` discovers, `wait_s` apart, and returns the first offer from a server not
// in `ignore` (this node's own addresses: its own dnsmasq answers too).
std::optional<DhcpOffer> probe_dhcp(DhcpSocket& s, const std::array<uint8_t, 6>& mac, uint32_t xid, int attempts,
                                    double wait_s, const std::vector<uint32_t>& ignore = {});

// UDP port 68 on interface `ifname` (SO_BINDTODEVICE). nullptr with `err` when it cannot (port
// 68 taken by a DHCP client, not root).
std::unique_ptr<DhcpSocket> open_dhcp_socket(const std::string& ifname, std::string& err);

std::string ipv4_text(uint32_t net_order);

}  // namespace grappe
