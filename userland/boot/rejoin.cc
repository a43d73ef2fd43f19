#include "boot/rejoin.h"

#include <sodium.h>

#include <cstring>

namespace grappe {
namespace {

const uint8_t kReqMagic[4] = {'G', 'R', 'J', 'Q'};
const uint8_t kRepMagic[4] = {'G', 'R', 'J', 'A'};
constexpr uint8_t kVersion = 1;
constexpr size_t kSealedBytes = 4 + 32 + crypto_box_SEALBYTES;

void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}

}  // namespace

bool is_rejoin_request(const uint8_t* p, size_t n) { return n >= 4 && std::memcmp(p, kReqMagic, 4) == 0; }
bool is_rejoin_reply(const uint8_t* p, size_t n) { return n >= 4 && std::memcmp(p, kRepMagic, 4) == 0; }

std::vector<uint8_t> make_rejoin_request(const std::array<uint8_t, 64>& join_sec, const RejoinRequest& r) {
  std::vector<uint8_t> b(kRejoinRequestBytes);
  std::memcpy(b.data(), kReqMagic, 4);
  b[4] = kVersion;
  put32(b.data() + 5, r.epoch);
  std::memcpy(b.data() + 9, r.id.data(), 16);
  std::memcpy(b.data() + 25, r.pk.data(), 32);
  crypto_sign_detached(b.data() + 57, nullptr, b.data(), 57, join_sec.data());
  return b;
}

std::optional<RejoinRequest> read_rejoin_request(const uint8_t* p, size_t n, const std::array<uint8_t, 32>& join_pub) {
  if (n != kRejoinRequestBytes || !is_rejoin_request(p, n) || p[4] != kVersion) return std::nullopt;
  if (crypto_sign_verify_detached(p + 57, p, 57, join_pub.data()) != 0) return std::nullopt;
  RejoinRequest r;
  r.epoch = get32(p + 5);
  std::memcpy(r.id.data(), p + 9, 16);
  std::memcpy(r.pk.data(), p + 25, 32);
  return r;
}

std::vector<uint8_t> make_rejoin_reply(const std::array<uint8_t, 64>& reply_sec, const RejoinRequest& r, uint32_t epoch,
                                       const ClusterSecret& op) {
  std::vector<uint8_t> b(kRejoinReplyBytes);
  std::memcpy(b.data(), kRepMagic, 4);
  b[4] = kVersion;
  std::memcpy(b.data() + 5, r.pk.data(), 32);
  uint8_t plain[36];
  put32(plain, epoch);
  std::memcpy(plain + 4, op.data(), 32);
  const int rc = crypto_box_seal(b.data() + 37, plain, sizeof plain, r.pk.data());
  sodium_memzero(plain, sizeof plain);
  if (rc != 0) return {};
  crypto_sign_detached(b.data() + 37 + kSealedBytes, nullptr, b.data(), 37 + kSealedBytes, reply_sec.data());
  return b;
}

bool open_rejoin_reply(const uint8_t* p, size_t n, const std::array<uint8_t, 32>& reply_pub, const BoxPublic& pk,
                       const BoxSecret& sk, uint32_t& epoch, ClusterSecret& op) {
  if (n != kRejoinReplyBytes || !is_rejoin_reply(p, n) || p[4] != kVersion) return false;
  if (std::memcmp(p + 5, pk.data(), 32) != 0) return false;
  if (crypto_sign_verify_detached(p + 37 + kSealedBytes, p, 37 + kSealedBytes, reply_pub.data()) != 0) return false;
  uint8_t plain[36];
  if (crypto_box_seal_open(plain, p + 37, kSealedBytes, pk.data(), sk.data()) != 0) return false;
  epoch = get32(plain);
  std::memcpy(op.data(), plain + 4, 32);
  sodium_memzero(plain, sizeof plain);
  return true;
}

}  // namespace grappe
