#include "boot/boot_keys.h"

#include <sodium.h>

#include <cstring>

namespace grappe {

std::array<uint8_t, 32> boot_signing_seed(const ClusterSecret& cluster_key) {
  static const char kLabel[] = "grappe boot signing key 1";
  std::array<uint8_t, 32> seed{};
  crypto_generichash(seed.data(), seed.size(), reinterpret_cast<const unsigned char*>(kLabel), sizeof kLabel - 1,
                     cluster_key.data(), cluster_key.size());
  return seed;
}

BootSigningKeys boot_signing_keys_from_seed(const std::array<uint8_t, 32>& seed) {
  BootSigningKeys k;
  crypto_sign_seed_keypair(k.pub.data(), k.sec.data(), seed.data());
  return k;
}

BootSigningKeys boot_signing_keys(const ClusterSecret& cluster_key) {
  auto seed = boot_signing_seed(cluster_key);
  BootSigningKeys k = boot_signing_keys_from_seed(seed);
  sodium_memzero(seed.data(), seed.size());
  return k;
}

}  // namespace grappe
