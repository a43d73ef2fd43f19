#include "bootmenu.h"

namespace grappe::build {

std::vector<BootEntry> boot_entries(const Recipe& r, const std::string& build_id) {
  std::string base = "grappe.label=" + r.volume_label + " grappe.build=" + build_id;
  std::string extra = r.cmdline.empty() ? "" : " " + r.cmdline;
  return {
      {"node", "Grappe cluster node", base + " quiet" + extra},
      {"debug", "Grappe node, debug (verbose, shell on failure)",
       base + " grappe.debug loglevel=7 systemd.show_status=1" + extra},
      {"serial", "Grappe node, serial console (ttyS0, 115200)",
       base + " console=tty0 console=ttyS0,115200n8" + extra},
      // grappe-serve-boot.service turns the cluster's network boot on when it sees grappe.serve.
      {"serve", "Grappe node + serve network boot", base + " quiet grappe.serve" + extra},
  };
}

}  // namespace grappe::build
