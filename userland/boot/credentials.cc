#include "boot/credentials.h"

#include <sodium.h>

#include <cstring>
#include <sstream>

namespace grappe {
namespace {

std::array<uint8_t, 32> derive(const char* label, const ClusterSecret& invite) {
  std::array<uint8_t, 32> out{};
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(label), std::strlen(label),
                     invite.data(), invite.size());
  return out;
}

std::array<uint8_t, 64> signing_secret(const char* label, const ClusterSecret& invite) {
  std::array<uint8_t, 32> seed = derive(label, invite);
  std::array<uint8_t, 32> pub{};
  std::array<uint8_t, 64> sec{};
  crypto_sign_seed_keypair(pub.data(), sec.data(), seed.data());
  sodium_memzero(seed.data(), seed.size());
  return sec;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

Credentials credentials_from_invitation(const ClusterSecret& invite) {
  Credentials c;
  c.invited = true;
  c.invite = invite;
  c.epoch = 0;
  c.op = derive("grappe operating key epoch 0", invite);
  c.boot_seed = boot_signing_seed(invite);
  std::array<uint8_t, 64> sec = join_secret(invite);
  crypto_sign_ed25519_sk_to_pk(c.join_pub.data(), sec.data());
  sodium_memzero(sec.data(), sec.size());
  return c;
}

std::array<uint8_t, 64> join_secret(const ClusterSecret& invite) { return signing_secret("grappe join key 1", invite); }

std::array<uint8_t, 64> rejoin_reply_secret(const ClusterSecret& invite) {
  return signing_secret("grappe rejoin reply key 1", invite);
}

std::array<uint8_t, 32> rejoin_reply_public(const ClusterSecret& invite) {
  auto sec = rejoin_reply_secret(invite);
  std::array<uint8_t, 32> pub{};
  crypto_sign_ed25519_sk_to_pk(pub.data(), sec.data());
  sodium_memzero(sec.data(), sec.size());
  return pub;
}

BootSigningKeys boot_keys(const Credentials& c) { return boot_signing_keys_from_seed(c.boot_seed); }

std::optional<Credentials> parse_credentials(const std::string& text, std::string& why) {
  const std::string t = trim(text);
  if (t.size() == 64) {
    ClusterSecret k{};
    if (!parse_hex(t, k)) return why = "not 64 lower-case hex characters", std::nullopt;
    return credentials_from_invitation(k);
  }
  std::istringstream in(t);
  std::string tag, ver, op, seed, join;
  long long epoch = -1;
  if (!(in >> tag >> ver >> epoch >> op >> seed >> join) || tag != "grappe-member" || ver != "1")
    return why = "neither an invitation (64 hex characters) nor a member line (grappe-member 1 ...)", std::nullopt;
  std::string rest;
  if (in >> rest) return why = "trailing text after the member line", std::nullopt;
  Credentials c;
  if (epoch < 0 || epoch > UINT32_MAX) return why = "epoch out of range", std::nullopt;
  c.epoch = static_cast<uint32_t>(epoch);
  if (!parse_hex(op, c.op) || !parse_hex(seed, c.boot_seed) || !parse_hex(join, c.join_pub))
    return why = "a key of the member line is not 64 lower-case hex characters", std::nullopt;
  return c;
}

std::string format_member(const Credentials& c) {
  return "grappe-member 1 " + std::to_string(c.epoch) + " " + to_hex(c.op) + " " + to_hex(c.boot_seed) + " " +
         to_hex(c.join_pub) + "\n";
}

std::array<uint8_t, kMemberBlob> member_blob(const Credentials& c) {
  std::array<uint8_t, kMemberBlob> b{};
  for (int i = 0; i < 4; ++i) b[i] = static_cast<uint8_t>(c.epoch >> (8 * i));
  std::memcpy(b.data() + 4, c.op.data(), 32);
  std::memcpy(b.data() + 36, c.boot_seed.data(), 32);
  std::memcpy(b.data() + 68, c.join_pub.data(), 32);
  return b;
}

Credentials member_from_blob(const std::array<uint8_t, kMemberBlob>& b) {
  Credentials c;
  for (int i = 0; i < 4; ++i) c.epoch |= static_cast<uint32_t>(b[i]) << (8 * i);
  std::memcpy(c.op.data(), b.data() + 4, 32);
  std::memcpy(c.boot_seed.data(), b.data() + 36, 32);
  std::memcpy(c.join_pub.data(), b.data() + 68, 32);
  return c;
}

}  // namespace grappe
