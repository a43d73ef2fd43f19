#include <doctest/doctest.h>

#include "identity.h"

using namespace grappe::init;

TEST_CASE("MAC normalisation accepts the usual spellings and rejects non-unicast") {
  CHECK(normalize_mac("01-52-54-00-AB-CD-EF") == "52:54:00:ab:cd:ef");
  CHECK(normalize_mac("52:54:00:ab:cd:ef") == "52:54:00:ab:cd:ef");
  CHECK(normalize_mac("525400ABCDEF") == "52:54:00:ab:cd:ef");
  CHECK(normalize_mac("01:00:5e:00:00:01") == "");  // multicast
  CHECK(normalize_mac("00:00:00:00:00:00") == "");
  CHECK(normalize_mac("52:54:00:ab:cd") == "");
  CHECK(normalize_mac("zz:54:00:ab:cd:ef") == "");
}

TEST_CASE("identity is stable per MAC and different across MACs") {
  auto a = derive_identity("52:54:00:67:72:01");
  auto a2 = derive_identity("52:54:00:67:72:01");
  auto b = derive_identity("52:54:00:67:72:02");
  CHECK(a.machine_id == a2.machine_id);
  CHECK(a.machine_id.size() == 32);
  CHECK(a.machine_id.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(a.machine_id != b.machine_id);
  CHECK(a.hostname == "grappe-525400677201");
  CHECK(a.hostname != b.hostname);
}

TEST_CASE("a DHCP/admin hostname is used only when valid") {
  CHECK(derive_identity("52:54:00:67:72:01", "lab-pc-7").hostname == "lab-pc-7");
  CHECK(derive_identity("52:54:00:67:72:01", "bad name;rm").hostname == "grappe-525400677201");
  CHECK_FALSE(valid_hostname("-x"));
  CHECK_FALSE(valid_hostname(std::string(64, 'a')));
}
