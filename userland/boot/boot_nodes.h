// Per-node settings for PCs booting from the cluster, without touching them (what LTSP's lts.conf
// and openMosix-LTSP's MOSIX=Y/N did): an optional TOML file on the serving node,
// /etc/grappe/boot-nodes.toml, maps MAC addresses or glob patterns to a hostname, whether the PC
// joins the cluster or only boots, and admin flags. The boot service turns the first matching
// entry into kernel parameters in the iPXE script it generates for that PC. No file: zero-config.
#pragma once
#include <string>
#include <vector>

namespace grappe {

struct BootNodeRule {
  std::string mac;                 // "52:54:00:12:34:56", or a pattern with * and ?
  std::string hostname;            // "" = derived from the MAC as usual
  bool join = true;                // false: boots the image but does not join the cluster
  std::vector<std::string> flags;  // admin flags set at boot: block, lstay, stay
};

// Throws std::runtime_error naming the file, the line, the field and what is valid.
std::vector<BootNodeRule> parse_boot_nodes(const std::string& text, const std::string& path);

// The first rule matching `mac` (any case, ':' or '-' separated); nullptr when none.
const BootNodeRule* match_boot_node(const std::vector<BootNodeRule>& rules, const std::string& mac);

// Kernel parameters for a rule: " grappe.hostname=NAME grappe.join=0 grappe.flags=block,stay"
// (only what differs from the default; "" for none).
std::string boot_node_args(const BootNodeRule& rule);

}  // namespace grappe
