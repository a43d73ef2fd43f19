#include <doctest/doctest.h>

#include "console_text.h"

using namespace grappe::build;

TEST_CASE("console text: escapes removed, the tail quoted on one line, what the port shows") {
  const std::string menu =
      "\x1b[2J\x1b[1;1HISOLINUX 6.04\r\n\x1b[7m Grappe 0123 - boot this PC into the cluster \x1b[0m\r\n"
      "\x1b(B   Grappe cluster node      \r\n";
  CHECK(console_plain(menu) == "ISOLINUX 6.04\n Grappe 0123 - boot this PC into the cluster \n   Grappe cluster node      \n");
  CHECK(console_tail(menu) == "'ISOLINUX 6.04 Grappe 0123 - boot this PC into the cluster Grappe cluster node'");
  CHECK(console_tail(menu, 10) == "'…uster node'");
  CHECK(console_tail("") == "nothing at all");
  CHECK(console_tail("\x1b[2J\r\n") == "nothing at all");
  CHECK(console_state(menu) == "the isolinux boot menu");
  CHECK(console_state("\x1b[H GNU GRUB  version 2.12\r\n*Grappe cluster node") == "the GRUB boot menu");
  // The newest screen wins: a menu then the kernel is a boot going on.
  CHECK(console_state(menu + "[    0.000000] Linux version 6.12.48-amd64\r\n") == "the node still booting");
  CHECK(console_state("Debian GNU/Linux 13 grappe-5254 ttyS0\r\n\r\ngrappe-5254 login: ") ==
        "a login prompt (no automatic login)");
  CHECK(console_state("grappe-init: FAILED: no medium\r\nISOLINUX") == "grappe-init's boot failure");
  CHECK(console_state("root@grappe-5254:~# ").empty());
  CHECK(console_state(menu + "grappe: node ready name=grappe-5254\r\n") == "the node up (its ready line)");
  CHECK(console_state("").empty());
}
