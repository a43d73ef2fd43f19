// A node's identity, derived from its primary MAC so that it is stable across reboots and never
// shared by two PCs booted from the same image (the classic LTSP/openMosix trap).
#pragma once
#include <string>

namespace grappe::init {

struct Identity {
  std::string mac;         // aa:bb:cc:dd:ee:ff
  std::string machine_id;  // 32 lower-case hex (systemd's /etc/machine-id format)
  std::string hostname;
};

// "01-AA-BB-CC-DD-EE-FF" (pxelinux/iPXE BOOTIF), "aa:bb:..", "AABBCC.." -> "aa:bb:cc:dd:ee:ff";
// "" when it is not a valid unicast Ethernet address.
std::string normalize_mac(const std::string& s);
Identity derive_identity(const std::string& mac, const std::string& hostname_override = "");
// Hostnames must be valid DNS labels; anything else is replaced by the derived name.
bool valid_hostname(const std::string& h);

}  // namespace grappe::init
