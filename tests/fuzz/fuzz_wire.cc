// libFuzzer target for the peer-protocol decoder. Two ways in: the raw bytes as received from
// the network (exercises the size, magic and MAC checks), and the same bytes re-signed with the
// cluster key (so the fuzzer reaches the field parser behind the MAC, as a peer holding the key
// could). Any crash, overflow or re-encoding mismatch is a finding.
#include <sodium.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "membership/wire.h"

using namespace grappe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool init = (sodium_init(), true);
  (void)init;
  ClusterKey key{};
  key.fill(0x42);
  DecodeError err;
  (void)decode(data, size, key, err);

  if (size + kMacBytes > kMaxPacket) return 0;
  std::vector<uint8_t> signed_packet(data, data + size);
  uint8_t mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256(mac, signed_packet.data(), signed_packet.size(), key.data());
  signed_packet.insert(signed_packet.end(), mac, mac + kMacBytes);
  auto m = decode(signed_packet.data(), signed_packet.size(), key, err);
  if (m) {
    // Whatever decodes must re-encode to a packet that decodes to the same message.
    auto again = encode(*m, key);
    if (again.empty()) std::abort();
    auto m2 = decode(again.data(), again.size(), key, err);
    if (!m2 || !(*m2 == *m)) std::abort();
  }
  return 0;
}
