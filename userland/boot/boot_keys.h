// The cluster's boot signing key: an Ed25519 pair derived from the cluster key. Its public half
// is the only cluster credential in anything served (the initrd's grappe-init.conf carries it as
// `pub=`): a PC booting from the network checks announcements and admission replies against it,
// and nothing it carries lets anyone sign, join or read a member's traffic. Shared by the builder
// (writes the public key), grapped (signs) and grappe-init (checks).
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "common/hex.h"  // to_hex, parse_hex

namespace grappe {

using ClusterSecret = std::array<uint8_t, 32>;

struct BootSigningKeys {
  std::array<uint8_t, 32> pub{};
  std::array<uint8_t, 64> sec{};
};

// Deterministic: the same invitation (cluster key, credentials.h) always gives the same pair
// (keyed BLAKE2b of a fixed label as the Ed25519 seed), so every member signs as the cluster.
// Network-booted members, which never hold the invitation, are given the seed at admission.
BootSigningKeys boot_signing_keys(const ClusterSecret& cluster_key);
std::array<uint8_t, 32> boot_signing_seed(const ClusterSecret& cluster_key);
BootSigningKeys boot_signing_keys_from_seed(const std::array<uint8_t, 32>& seed);

}  // namespace grappe
