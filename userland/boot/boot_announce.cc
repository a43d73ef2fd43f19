#include "boot/boot_announce.h"

#include <sodium.h>

#include <regex>

#include "boot/boot_keys.h"

namespace grappe {
namespace {

constexpr size_t kMaxAnnouncement = 512;
const char* kAnnounceMagic = "GRAPPE-BOOT 2\n";

std::string body_of(const BootAnnouncement& a) {
  return std::string(kAnnounceMagic) + "cluster " + a.cluster + "\nbase " + a.base + "\nsums " + a.sums_sha256 + "\n";
}

}  // namespace

std::string encode_boot_announcement(const std::array<uint8_t, 64>& sec, const BootAnnouncement& a) {
  const std::string body = body_of(a);
  std::array<uint8_t, crypto_sign_BYTES> sig{};
  crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const unsigned char*>(body.data()), body.size(), sec.data());
  return body + "sig " + to_hex(sig) + "\n";
}

bool decode_boot_announcement(const std::array<uint8_t, 32>& pub, const std::string& packet, BootAnnouncement& out,
                              std::string& why) {
  if (packet.size() > kMaxAnnouncement) return why = "announcement over " + std::to_string(kMaxAnnouncement) + " bytes", false;
  static const std::regex form(
      "GRAPPE-BOOT 2\ncluster ([a-z0-9-]{1,32})\nbase (http://[A-Za-z0-9.:\\[\\]-]{1,64}/grappe/)\n"
      "sums ([0-9a-f]{64})\nsig ([0-9a-f]{128})\n");
  std::smatch m;
  if (!std::regex_match(packet, m, form)) return why = "not a boot announcement", false;
  BootAnnouncement a{m[1], m[2], m[3]};
  std::array<uint8_t, crypto_sign_BYTES> sig{};
  const std::string body = body_of(a);
  if (!parse_hex(m[4], sig) ||
      crypto_sign_verify_detached(sig.data(), reinterpret_cast<const unsigned char*>(body.data()), body.size(), pub.data()) != 0)
    return why = "announcement not signed with this cluster's boot key", false;
  out = a;
  return true;
}

}  // namespace grappe
