#include "bootmenu.h"

namespace grappe::build {

namespace {
// Every entry has both consoles, so a machine without a screen can always be driven through its
// first serial port (systemd's getty generator starts an autologin shell on each console the
// kernel was given). The last console= is /dev/console, where systemd's and grappe-init's output
// go: the screen, as on a PC with a monitor, except for the serial entry. The node's own
// announcements reach the other console too (userland/common/console_echo.h).
const char* kScreenFirst = " console=ttyS0,115200n8 console=tty0";
const char* kSerialFirst = " console=tty0 console=ttyS0,115200n8";
}  // namespace

std::vector<BootEntry> boot_entries(const Recipe& r, const std::string& build_id) {
  std::string base = "grappe.label=" + r.volume_label + " grappe.build=" + build_id;
  std::string extra = r.cmdline.empty() ? "" : " " + r.cmdline;
  return {
      {"node", "Grappe cluster node", base + " quiet" + kScreenFirst + extra},
      {"debug", "Grappe node, debug (verbose, shell on failure)",
       base + " grappe.debug loglevel=7 systemd.show_status=1" + kScreenFirst + extra},
      {"serial", "Grappe node, serial console (ttyS0, 115200)", base + kSerialFirst + extra},
      // grappe-serve-boot.service turns the cluster's network boot on when it sees grappe.serve.
      {"serve", "Grappe node + serve network boot", base + " quiet grappe.serve" + kScreenFirst + extra},
  };
}

}  // namespace grappe::build
