// The boot service's announcement: while a node serves network boot it broadcasts, every 2 s on
// UDP port 7425 of its cluster interface, where the image is (the URL of its /grappe/ directory)
// and the SHA-256 of its SHA256SUMS, signed with the cluster's boot signing key (boot_keys.h). A
// PC given only the kernel and initrd (grappe-init carries the public half, never the cluster key)
// finds the cluster from it, with no address typed anywhere: the signature ties the URL to this
// cluster, the SUMS hash the layers to the announcement.
// Shared by grapped and grappe-init; text, at most 512 bytes, parsed with bounds checks.
#pragma once
#include <array>
#include <cstdint>
#include <string>

namespace grappe {

constexpr uint16_t kBootAnnouncePort = 7425;

struct BootAnnouncement {
  std::string cluster;      // [a-z0-9-]{1,32}
  std::string base;         // http://HOST[:PORT]/grappe/
  std::string sums_sha256;  // 64 lower-case hex characters
};

// `sec`: the boot signing key's secret half (BootSigningKeys::sec).
std::string encode_boot_announcement(const std::array<uint8_t, 64>& sec, const BootAnnouncement& a);
// False with `why` for anything not a well-formed announcement signed by `pub`'s secret half.
bool decode_boot_announcement(const std::array<uint8_t, 32>& pub, const std::string& packet, BootAnnouncement& out,
                              std::string& why);

}  // namespace grappe
