// libFuzzer target for what grappe-init reads from the wire before it holds any secret: the boot
// announcement (UDP broadcast, anyone on the segment can send one) and the admission reply (from
// whatever answered its HTTP request). Both are parsed with the cluster's boot public key; the
// fuzzer also feeds inputs re-signed with the matching secret half, so it reaches the parts behind
// the signature. A crash, or a forged input accepted, is a finding.
#include <sodium.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "boot/boot_admit.h"
#include "boot/credentials.h"
#include "boot/rejoin.h"
#include "boot/boot_announce.h"
#include "boot/boot_keys.h"

using namespace grappe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool init = (sodium_init(), true);
  (void)init;
  static const BootSigningKeys keys = [] {
    ClusterSecret k{};
    k.fill(0x42);
    return boot_signing_keys(k);
  }();
  static BoxPublic pc_pub{};
  static BoxSecret pc_sec{};
  static bool pc = (crypto_box_seed_keypair(pc_pub.data(), pc_sec.data(), keys.pub.data()), true);
  (void)pc;
  const std::string in(reinterpret_cast<const char*>(data), size);
  BootAnnouncement a;
  std::string why;
  if (decode_boot_announcement(keys.pub, in, a, why)) {
    // Accepted: it must be exactly what the cluster would have signed.
    if (encode_boot_announcement(keys.sec, a) != in) std::abort();
  }
  Credentials out;
  if (open_admission(keys.pub, pc_pub, pc_sec, "52:54:00:00:00:01", in, out, why)) {
    // Only a reply the cluster made can open; random bytes never reach here.
    if (in.find("sig ") == std::string::npos) std::abort();
  }
  // Re-signed: the body as an announcement with a valid signature line appended.
  std::array<uint8_t, crypto_sign_BYTES> sig{};
  crypto_sign_detached(sig.data(), nullptr, data, size, keys.sec.data());
  const std::string signed_in = in + "sig " + to_hex(sig) + "\n";
  (void)decode_boot_announcement(keys.pub, signed_in, a, why);
  (void)open_admission(keys.pub, pc_pub, pc_sec, "52:54:00:00:00:01", signed_in, out, why);
  // The rejoin request and reply (boot/rejoin.h): as received, and with a valid signature over the
  // body, so the fuzzer reaches the parts behind each check.
  static const std::array<uint8_t, 32> join_pub = [] {
    ClusterSecret k{};
    k.fill(0x42);
    return credentials_from_invitation(k).join_pub;
  }();
  static const std::array<uint8_t, 64> reply_sec = [] {
    ClusterSecret k{};
    k.fill(0x42);
    return rejoin_reply_secret(k);
  }();
  static const std::array<uint8_t, 32> reply_pub = [] {
    ClusterSecret k{};
    k.fill(0x42);
    return rejoin_reply_public(k);
  }();
  if (auto r = read_rejoin_request(data, size, join_pub); r && size != kRejoinRequestBytes) std::abort();
  uint32_t epoch = 0;
  ClusterSecret op{};
  if (open_rejoin_reply(data, size, reply_pub, pc_pub, pc_sec, epoch, op) && size != kRejoinReplyBytes) std::abort();
  if (size >= 64) {
    std::vector<uint8_t> body(data, data + size - 64);
    std::array<uint8_t, crypto_sign_BYTES> s2{};
    crypto_sign_detached(s2.data(), nullptr, body.data(), body.size(), reply_sec.data());
    body.insert(body.end(), s2.begin(), s2.end());
    (void)open_rejoin_reply(body.data(), body.size(), reply_pub, pc_pub, pc_sec, epoch, op);
  }
  return 0;
}
