#include <doctest/doctest.h>

#include <algorithm>

#include "qemu.h"

using namespace grappe;

namespace {
bool has(const std::vector<std::string>& v, const std::string& needle) {
  return std::any_of(v.begin(), v.end(), [&](const std::string& s) { return s.find(needle) != std::string::npos; });
}
}  // namespace

TEST_CASE("every VM gets its own MAC") {
  CHECK(node_mac(1) == "52:54:00:67:72:01");
  CHECK(node_mac(2) != node_mac(1));
  CHECK(node_mac(1, true) != node_mac(1));
}

TEST_CASE("the cluster segment always stays on loopback") {
  QemuOptions o;
  o.port = 23456;
  for (const char* boot : {"cd", "uefi", "usb", "pxe"}) {
    o.boot = boot;
    auto a = qemu_command(o, 1, "tcg", "vars.fd", 8080);
    CHECK(has(a, "mcast=230.0.0.1:23456,localaddr=127.0.0.1"));
    CHECK(has(a, "mac=52:54:00:67:72:01"));
  }
}

TEST_CASE("boot modes pick the right firmware and devices") {
  QemuOptions o;
  o.port = 1;
  o.boot = "uefi";
  auto u = qemu_command(o, 1, "tcg", "v.fd", 0);
  CHECK(has(u, "if=pflash"));
  CHECK(has(u, "media=cdrom"));
  o.boot = "usb";
  auto s = qemu_command(o, 1, "tcg", "v.fd", 0);
  CHECK(has(s, "usb-storage"));
  CHECK_FALSE(has(s, "if=pflash"));
  o.boot = "pxe";
  auto p = qemu_command(o, 2, "kvm", "v.fd", 8080);
  CHECK(has(p, "bootfile=grappe.ipxe"));
  CHECK(has(p, "restrict=on"));
  CHECK(has(p, "nc 127.0.0.1 8080"));
  CHECK(has(p, "kvm"));
}
