#include "console_text.h"

#include <array>
#include <utility>

namespace grappe::build {

std::string console_plain(const std::string& raw) {
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(raw[i]);
    if (c == 0x1b) {  // ESC: CSI "ESC [ params final", or a two- or three-byte sequence
      if (i + 1 < raw.size() && raw[i + 1] == '[') {
        i += 2;
        while (i < raw.size() && !(raw[i] >= 0x40 && raw[i] <= 0x7e)) ++i;
      } else if (i + 1 < raw.size() && (raw[i + 1] == '(' || raw[i + 1] == ')')) {
        i += 2;
      } else {
        ++i;
      }
      continue;
    }
    if (c == '\n' || c == '\t' || (c >= 32 && c != 127)) out += static_cast<char>(c);
  }
  return out;
}

std::string console_tail(const std::string& raw, size_t max) {
  std::string plain = console_plain(raw);
  std::string tail;
  for (char c : plain.size() > max * 4 ? plain.substr(plain.size() - max * 4) : plain) {
    if (c == '\n' || c == '\t') c = ' ';
    if (c == ' ' && (tail.empty() || tail.back() == ' ')) continue;  // menus pad with blanks
    tail += c;
  }
  while (!tail.empty() && tail.back() == ' ') tail.pop_back();
  if (tail.size() > max) tail = "…" + tail.substr(tail.size() - max);
  return tail.empty() ? "nothing at all" : "'" + tail + "'";
}

std::string console_state(const std::string& raw) {
  const std::string text = console_plain(raw.size() > 4096 ? raw.substr(raw.size() - 4096) : raw);
  // The last line with something on it: a prompt has no newline after it.
  std::string last;
  if (const size_t end = text.find_last_not_of(" \n"); end != std::string::npos) {
    const size_t nl = text.rfind('\n', end);
    const size_t start = nl == std::string::npos ? 0 : nl + 1;
    last = text.substr(start, end + 1 - start);
  }
  if (text.find("grappe-init: FAILED") != std::string::npos) return "grappe-init's boot failure";
  if (last.size() >= 6 && last.compare(last.size() - 6, 6, "login:") == 0) return "a login prompt (no automatic login)";
  // The newest of the known screens wins: a menu followed by a kernel's output is a boot.
  static const std::array<std::pair<const char*, const char*>, 12> marks = {{
      {"ISOLINUX", "the isolinux boot menu"},
      {"SYSLINUX", "the isolinux boot menu"},
      {"boot this PC into the cluster", "the isolinux boot menu"},
      {"GNU GRUB", "the GRUB boot menu"},
      {"iPXE", "the firmware or iPXE (network boot)"},
      {"SeaBIOS", "the firmware or iPXE (network boot)"},
      {"Linux version", "the node still booting"},
      {"Booting the kernel", "the node still booting"},
      {"grappe-init:", "the node still booting (grappe-init)"},
      {"systemd[1]", "the node still booting (systemd)"},
      {"grappe: node ready", "the node up (its ready line)"},
      {"(automatic login)", "the node up (its automatic login)"},
  }};
  size_t best = std::string::npos;
  std::string what;
  for (const auto& [mark, name] : marks) {
    const size_t at = text.rfind(mark);
    if (at != std::string::npos && (best == std::string::npos || at > best)) {
      best = at;
      what = name;
    }
  }
  return what;
}

}  // namespace grappe::build
