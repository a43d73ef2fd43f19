#include "boot/boot_announce.h"

#include <sodium.h>

#include <regex>

namespace grappe {
namespace {

constexpr size_t kMaxPacket = 512;
const char* kMagic = "GRAPPE-BOOT 1\n";

std::string hmac_hex(const std::array<uint8_t, 32>& key, const std::string& body) {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key.data(), key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(body.data()), body.size());
  crypto_auth_hmacsha256_final(&st, mac);
  char hex[sizeof mac * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
  return hex;
}

std::string body_of(const BootAnnouncement& a) {
  return std::string(kMagic) + "cluster " + a.cluster + "\nbase " + a.base + "\nsums " + a.sums_sha256 + "\n";
}

}  // namespace

std::string encode_boot_announcement(const std::array<uint8_t, 32>& key, const BootAnnouncement& a) {
  const std::string body = body_of(a);
  return body + "hmac " + hmac_hex(key, body) + "\n";
}

bool decode_boot_announcement(const std::array<uint8_t, 32>& key, const std::string& packet, BootAnnouncement& out,
                              std::string& why) {
  if (packet.size() > kMaxPacket) return why = "announcement over " + std::to_string(kMaxPacket) + " bytes", false;
  static const std::regex form(
      "GRAPPE-BOOT 1\ncluster ([a-z0-9-]{1,32})\nbase (http://[A-Za-z0-9.:\\[\\]-]{1,64}/grappe/)\n"
      "sums ([0-9a-f]{64})\nhmac ([0-9a-f]{64})\n");
  std::smatch m;
  if (!std::regex_match(packet, m, form)) return why = "not a boot announcement", false;
  BootAnnouncement a{m[1], m[2], m[3]};
  const std::string want = hmac_hex(key, body_of(a)), got = m[4];
  if (sodium_memcmp(want.data(), got.data(), want.size()) != 0) return why = "announcement not signed with this cluster's key", false;
  out = a;
  return true;
}

}  // namespace grappe
