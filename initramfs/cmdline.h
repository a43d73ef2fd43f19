// What grappe-init is told: the kernel command line (grappe.* parameters) on top of the
// defaults baked into /etc/grappe-init.conf at build time.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace grappe::init {

struct InitConfig {
  std::string label;                // ISO 9660 volume id of the medium
  std::string build;                // build id; /grappe/<build> must exist on the medium
  std::string kernel;               // kernel version (module directory)
  std::vector<std::string> layers;  // squashfs files, bottom first
  std::vector<std::string> always;  // modules loaded unconditionally
  std::vector<std::string> fetch;   // network root: one URL per layer
  std::vector<std::string> sha256;  // expected hash per fetched layer
  std::string bootif;               // MAC of the boot NIC (BOOTIF=01-aa-bb-.. or grappe.mac=)
  std::string hostname;             // grappe.hostname= overrides the derived one
  bool debug = false;               // grappe.debug: verbose, shell on failure
  bool shell = false;               // grappe.shell: shell on failure
  int timeout_s = 90;               // grappe.timeout=: how long to wait for the medium/network
  std::string boot_pub;             // the cluster's boot public key (hex, baked): checks boot
                                    // announcements and admission replies; never the cluster key
  bool discover = true;             // grappe.discover=0: never look for a cluster's announcement
};

// Splits a command line into key -> value ("" for bare flags); quotes group spaces.
std::map<std::string, std::string> parse_cmdline(const std::string& line);
// key=value lines; '#' comments.
std::map<std::string, std::string> parse_conf(const std::string& text);
// Baked defaults, then the command line. Errors (e.g. fetch/sha256 count mismatch) go to `error`.
InitConfig make_config(const std::map<std::string, std::string>& conf,
                       const std::map<std::string, std::string>& cmdline, std::string& error);
std::vector<std::string> split(const std::string& s, char sep);

}  // namespace grappe::init
