// The view grapped hands the boot service: who serves (the founder), and the networks in use.
#include <arpa/inet.h>

#include <doctest/doctest.h>

#include "boot/boot_view.h"

using namespace grappe;

TEST_CASE("boot view: the founder serves, the others name it; peers' /24s are in use") {
  BootPeers p;
  p.self = 1;
  p.founder = 1;
  p.founder_name = "alpha";
  p.live_ips = {inet_addr("10.0.5.7"), inet_addr("192.168.1.20")};
  NetIf eth;
  eth.name = "eth0";
  BootView v = boot_view(true, p, {eth});
  CHECK(v.enabled);
  CHECK(v.server);
  CHECK(v.founder == "node 1 (alpha)");
  CHECK(v.ifaces.size() == 1);
  CHECK(v.used_nets == std::vector<uint32_t>{inet_addr("10.0.5.0"), inet_addr("192.168.1.0")});
  p.self = 2;
  CHECK_FALSE(boot_view(true, p, {}).server);
  BootPeers none;  // no number yet, no founder: nobody serves
  BootView n = boot_view(false, none, {});
  CHECK_FALSE(n.server);
  CHECK(n.founder.empty());
  CHECK_FALSE(n.enabled);
}
