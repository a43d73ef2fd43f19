// The boot menu every front end shows (isolinux, GRUB EFI, iPXE): the normal node, a debug
// entry, a serial-console entry and a serving node, with their kernel command lines. Every entry
// has a shell on the screen and on the first serial port; the serial entry makes ttyS0 the
// primary console (/dev/console), the others the screen.
#pragma once
#include <string>
#include <vector>

#include "recipe.h"

namespace grappe::build {

struct BootEntry {
  std::string id;       // node | debug | serial
  std::string title;
  std::string cmdline;  // without initrd= and the network-boot parameters
};

std::vector<BootEntry> boot_entries(const Recipe& r, const std::string& build_id);

}  // namespace grappe::build
