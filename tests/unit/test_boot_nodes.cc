#include <doctest/doctest.h>

#include <stdexcept>

#include "boot/boot_nodes.h"
#include "balance/node_admin.h"

using namespace grappe;

namespace {
std::string error_of(const std::string& text) {
  try {
    parse_boot_nodes(text, "/etc/grappe/boot-nodes.toml");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("boot-nodes.toml: MACs and patterns to settings, first match wins, any MAC spelling") {
  auto rules = parse_boot_nodes(R"(
[[node]]
mac = "52:54:00:67:72:02"
hostname = "render-1"
flags = ["block", "stay", "block"]

[[node]]
mac = "52-54-00-67-72-0?"
join = false

[[node]]
mac = "AA:BB:*"
flags = ["lstay"]
)",
                                "boot-nodes.toml");
  REQUIRE(rules.size() == 3);
  const BootNodeRule* r = match_boot_node(rules, "52-54-00-67-72-02");  // iPXE's hexhyp form
  REQUIRE(r);
  CHECK(r->hostname == "render-1");
  CHECK(boot_node_args(*r) == " grappe.hostname=render-1 grappe.flags=block,stay");  // no duplicate
  r = match_boot_node(rules, "52:54:00:67:72:03");
  REQUIRE(r);
  CHECK(boot_node_args(*r) == " grappe.join=0");
  r = match_boot_node(rules, "aa:bb:cc:dd:ee:ff");
  REQUIRE(r);
  CHECK(boot_node_args(*r) == " grappe.flags=lstay");
  CHECK(match_boot_node(rules, "52:54:00:67:72:10") == nullptr);  // ? is one character
  CHECK(match_boot_node(rules, "") == nullptr);
  CHECK(parse_boot_nodes("", "x").empty());  // an empty file: zero-config
  BootNodeRule plain;
  plain.mac = "*";
  CHECK(boot_node_args(plain).empty());
}

TEST_CASE("boot-nodes.toml: errors name the file, the line, the field and what is valid") {
  auto e = error_of("[[node]]\nmac = \"52:54:00:zz:00:01\"\n");
  CHECK(e.find("/etc/grappe/boot-nodes.toml line 2: mac '52:54:00:zz:00:01' is not a MAC address") == 0);
  CHECK(e.find("valid: hex digits") != std::string::npos);
  CHECK(error_of("[[node]]\nmac = \"*\"\nhostname = \"Bad_Name\"\n").find("line 3: hostname must be a host name") != std::string::npos);
  CHECK(error_of("[[node]]\nmac = \"*\"\nhostname = \"lab\"\n").find("would give every matching PC the same name") != std::string::npos);
  CHECK(error_of("[[node]]\nmac = \"*\"\nflags = [\"fast\"]\n").find("unknown flag") != std::string::npos);
  CHECK(error_of("[[node]]\nmac = \"*\"\njoin = \"no\"\n").find("join must be true or false") != std::string::npos);
  CHECK(error_of("[[node]]\nmac = \"*\"\ncolour = 1\n").find("unknown field 'colour'") != std::string::npos);
  CHECK(error_of("[[node]]\nhostname = \"a\"\n").find("without mac") != std::string::npos);
  CHECK(error_of("[nodes]\n").find("unknown key 'nodes'") != std::string::npos);
  CHECK(error_of("[[node]\n").find("cannot parse /etc/grappe/boot-nodes.toml") == 0);
}

TEST_CASE("grappe.flags on the kernel command line sets admin flags at boot") {
  NodeAdmin a;
  CHECK(apply_boot_flags(a, "quiet grappe.flags=block,stay,fast grappe.build=1\n") == "block,stay");
  CHECK(flags_text(a.flags) == "block,stay");
  NodeAdmin b;
  CHECK(apply_boot_flags(b, "quiet grappe.build=1").empty());
  CHECK(b.flags == 0);
}
