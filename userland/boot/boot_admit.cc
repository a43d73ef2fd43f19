#include "boot/boot_admit.h"

#include "boot/credentials.h"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <regex>

namespace grappe {
namespace {

const char* kAdmitMagic = "GRAPPE-ADMIT 2\n";
constexpr size_t kSealed = kMemberBlob + crypto_box_SEALBYTES;

// What the signature covers: the PC's one-time key and MAC bind the reply to this request.
std::string signed_part(const BoxPublic& pc_pub, const std::string& mac, const std::string& sealed_hex) {
  return std::string(kAdmitMagic) + "pc " + to_hex(pc_pub) + "\nmac " + mac + "\nsealed " + sealed_hex + "\n";
}

}  // namespace

std::string make_admission(const BootSigningKeys& signer, const Credentials& member, const BoxPublic& pc_pub,
                           const std::string& mac) {
  std::array<uint8_t, kSealed> sealed{};
  auto blob = member_blob(member);
  const int rc = crypto_box_seal(sealed.data(), blob.data(), blob.size(), pc_pub.data());
  sodium_memzero(blob.data(), blob.size());
  if (rc != 0) return "";
  const std::string body = signed_part(pc_pub, mac, to_hex(sealed));
  std::array<uint8_t, crypto_sign_BYTES> sig{};
  crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const unsigned char*>(body.data()), body.size(),
                       signer.sec.data());
  return body + "sig " + to_hex(sig) + "\n";
}

bool open_admission(const std::array<uint8_t, 32>& boot_pub, const BoxPublic& pc_pub, const BoxSecret& pc_sec,
                    const std::string& mac, const std::string& reply, Credentials& out, std::string& why) {
  if (reply.size() > kMaxAdmitReply) return why = "admission reply over " + std::to_string(kMaxAdmitReply) + " bytes", false;
  static const std::regex form(
      "GRAPPE-ADMIT 2\npc ([0-9a-f]{64})\nmac ([0-9a-f:]{17})\nsealed ([0-9a-f]{296})\nsig ([0-9a-f]{128})\n");
  std::smatch m;
  if (!std::regex_match(reply, m, form)) return why = "not an admission reply", false;
  std::array<uint8_t, crypto_sign_BYTES> sig{};
  const std::string body = signed_part(pc_pub, mac, m[3]);
  if (m[1] != to_hex(pc_pub) || m[2] != mac) return why = "admission reply made for another PC", false;
  if (!parse_hex(m[4], sig) ||
      crypto_sign_verify_detached(sig.data(), reinterpret_cast<const unsigned char*>(body.data()), body.size(),
                                  boot_pub.data()) != 0)
    return why = "admission reply not signed with this cluster's boot key", false;
  std::array<uint8_t, kSealed> sealed{};
  std::array<uint8_t, kMemberBlob> blob{};
  if (!parse_hex(m[3], sealed) ||
      crypto_box_seal_open(blob.data(), sealed.data(), sealed.size(), pc_pub.data(), pc_sec.data()) != 0)
    return why = "admission reply signed but not sealed to this PC's key", false;
  out = member_from_blob(blob);
  sodium_memzero(blob.data(), blob.size());
  return true;
}

std::array<uint8_t, 16> node_id_for_mac(const std::string& canonical) {
  const std::string input = "grappe-machine-id:" + canonical;
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  std::array<uint8_t, 16> id{};
  std::copy(h, h + 16, id.begin());
  return id;
}

std::string canonical_mac(const std::string& mac) {
  if (mac.size() != 17) return "";
  std::string out = mac;
  for (size_t i = 0; i < out.size(); ++i) {
    char& c = out[i];
    if (i % 3 == 2) {
      if (c != ':' && c != '-') return "";
      c = ':';
    } else if (std::isxdigit(static_cast<unsigned char>(c))) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      return "";
    }
  }
  return out;
}

}  // namespace grappe
