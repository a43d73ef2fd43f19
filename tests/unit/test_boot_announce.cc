#include <doctest/doctest.h>

#include <sodium.h>

#include <string>

#include "boot/boot_announce.h"
#include "boot/boot_keys.h"

using namespace grappe;

TEST_CASE("boot signing keys: derived from the cluster key, the same on every member, distinct per cluster") {
  REQUIRE(sodium_init() >= 0);
  ClusterSecret a{}, b{};
  a.fill(1);
  b.fill(2);
  CHECK(boot_signing_keys(a).pub == boot_signing_keys(a).pub);
  CHECK(boot_signing_keys(a).pub != boot_signing_keys(b).pub);
  // The public half reveals nothing of the cluster key's bytes.
  CHECK(to_hex(boot_signing_keys(a).pub).find(to_hex(a).substr(0, 16)) == std::string::npos);
  std::array<uint8_t, 4> x{};
  CHECK(parse_hex("0a0B0c0d", x) == false);  // upper case refused
  CHECK(parse_hex("0a0b0c0d", x));
  CHECK(x[1] == 0x0b);
  CHECK_FALSE(parse_hex("0a0b0c", x));
  CHECK_FALSE(parse_hex("0a0b0c0d0e", x));
  CHECK_FALSE(parse_hex("0a0b0c0g", x));
}

TEST_CASE("boot announcement: round trip, signed with the cluster's boot key, every malformed form refused") {
  REQUIRE(sodium_init() >= 0);
  ClusterSecret ck{}, ck2{};
  ck.fill(1);
  ck2.fill(2);
  const auto mine = boot_signing_keys(ck), theirs = boot_signing_keys(ck2);
  const auto& key = mine.pub;
  const auto& other = theirs.pub;
  const BootAnnouncement a{"grappe-test", "http://10.71.0.1/grappe/", std::string(64, 'a')};
  const std::string p = encode_boot_announcement(mine.sec, a);
  BootAnnouncement got;
  std::string why;
  REQUIRE(decode_boot_announcement(key, p, got, why));
  CHECK(got.cluster == a.cluster);
  CHECK(got.base == a.base);
  CHECK(got.sums_sha256 == a.sums_sha256);
  CHECK_FALSE(decode_boot_announcement(other, p, got, why));
  CHECK(why.find("not signed with this cluster's boot key") != std::string::npos);
  // Another cluster's signature on the same body is refused too.
  CHECK_FALSE(decode_boot_announcement(key, encode_boot_announcement(theirs.sec, a), got, why));
  // Tampering with any byte, signature included, breaks the signature or the form.
  for (size_t i = 0; i < p.size(); ++i) {
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
    const std::string q = encode_boot_announcement(mine.sec, {"grappe", base, std::string(64, 'b')});
    CHECK_FALSE(decode_boot_announcement(key, q, got, why));
  }
  // Random bytes never decode.
  std::string junk(300, '\0');
  for (int n = 0; n < 2000; ++n) {
    randombytes_buf(junk.data(), junk.size());
    CHECK_FALSE(decode_boot_announcement(key, junk, got, why));
  }
}
