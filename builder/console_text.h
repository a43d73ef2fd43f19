// What a node's serial console printed, as `grappe-build console` reports it when no shell
// answers: terminal escapes removed, the tail kept, and what the port seems to show (a boot menu,
// a login prompt, a boot still going on), so the error says why instead of only timing out.
#pragma once
#include <string>

namespace grappe::build {

// `raw` without terminal escape sequences (ESC [ … letter, ESC ( B, …) and other control bytes
// ('\n' kept, '\r' dropped): a boot menu drawn with cursor moves becomes its words.
std::string console_plain(const std::string& raw);

// The last `max` characters of console_plain(raw) on one line, quoted: "'…'", or "nothing at all".
std::string console_tail(const std::string& raw, size_t max = 240);

// What the console seems to show, from its last 4 KiB: "the isolinux boot menu", "the GRUB boot
// menu", "a login prompt (no automatic login)", "grappe-init's boot failure", "the firmware or
// iPXE", "the node still booting (systemd)"; "" when none of these.
std::string console_state(const std::string& raw);

}  // namespace grappe::build
