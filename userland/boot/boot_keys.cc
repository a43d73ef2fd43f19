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

std::string to_hex(const uint8_t* data, size_t n) {
  std::string s(n * 2 + 1, '\0');
  sodium_bin2hex(s.data(), s.size(), data, n);
  s.pop_back();
  return s;
}

bool parse_hex(const std::string& hex, uint8_t* out, size_t n) {
  if (hex.size() != n * 2 || hex.find_first_not_of("0123456789abcdef") != std::string::npos) return false;
  size_t got = 0;
  return sodium_hex2bin(out, n, hex.data(), hex.size(), nullptr, &got, nullptr) == 0 && got == n;
}

}  // namespace grappe
