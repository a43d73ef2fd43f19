#include <doctest/doctest.h>

#include <sodium.h>

#include <string>

#include "boot/boot_announce.h"

using namespace grappe;

TEST_CASE("boot announcement: round trip, signed with the cluster key, every malformed form refused") {
  REQUIRE(sodium_init() >= 0);
  std::array<uint8_t, 32> key{}, other{};
  key.fill(1);
  other.fill(2);
  const BootAnnouncement a{"grappe-test", "http://10.71.0.1/grappe/", std::string(64, 'a')};
  const std::string p = encode_boot_announcement(key, a);
  BootAnnouncement got;
  std::string why;
  REQUIRE(decode_boot_announcement(key, p, got, why));
  CHECK(got.cluster == a.cluster);
  CHECK(got.base == a.base);
  CHECK(got.sums_sha256 == a.sums_sha256);
  CHECK_FALSE(decode_boot_announcement(other, p, got, why));
  CHECK(why.find("not signed with this cluster's key") != std::string::npos);
  // Tampering with any byte of the signed part breaks the signature or the form.
  for (size_t i = 0; i < p.size() - 70; ++i) {
    std::string t = p;
    t[i] = static_cast<char>(t[i] ^ 0x01);
    CHECK_FALSE(decode_boot_announcement(key, t, got, why));
  }
  CHECK_FALSE(decode_boot_announcement(key, p.substr(0, p.size() - 1), got, why));
  CHECK_FALSE(decode_boot_announcement(key, p + "x", got, why));
  CHECK_FALSE(decode_boot_announcement(key, std::string(600, 'a'), got, why));
  CHECK(why.find("over 512 bytes") != std::string::npos);
  // A URL the initramfs would not fetch is refused even when signed.
  for (const char* base : {"https://10.71.0.1/grappe/", "http://10.71.0.1/other/", "http://a b/grappe/", "http:///grappe/"}) {
    const std::string q = encode_boot_announcement(key, {"grappe", base, std::string(64, 'b')});
    CHECK_FALSE(decode_boot_announcement(key, q, got, why));
  }
  // Random bytes never decode.
  std::string junk(300, '\0');
  for (int n = 0; n < 2000; ++n) {
    randombytes_buf(junk.data(), junk.size());
    CHECK_FALSE(decode_boot_announcement(key, junk, got, why));
  }
}
