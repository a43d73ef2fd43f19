// The kernel-facing operations of grappe-init: mounts, module loading, loop devices, network
// bring-up and the switch to the real root. Kept apart from the decisions in init_main.cc.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "common/text_file.h"
#include "modindex.h"

namespace grappe::init {

void log(const std::string& msg);   // "grappe-init: msg" on the console
void debug_log(const std::string& msg);
void set_debug(bool on);

bool mount_fs(const std::string& src, const std::string& target, const std::string& type, unsigned long flags,
              const std::string& data, std::string& error);
void mkdirs(const std::string& path);
using grappe::read_text;  // common/text_file.h: "" when unreadable
bool write_text(const std::string& path, const std::string& text);

class ModuleLoader {
 public:
  ModuleLoader(std::string dir, ModuleIndex idx) : dir_(std::move(dir)), idx_(std::move(idx)) {}
  // Loads a module by name with its dependencies; true if now loaded (or built in / absent).
  bool load(const std::string& name);
  // One coldplug pass over /sys/devices: loads modules for unclaimed modaliases. Returns how many
  // modules it loaded.
  int coldplug();
  const std::set<std::string>& loaded() const { return loaded_; }

 private:
  bool load_path(const std::string& rel);
  std::string dir_;
  ModuleIndex idx_;
  std::set<std::string> loaded_;   // relative paths
  std::set<std::string> failed_;
};

// Attaches a file to a free loop device, read-only; returns /dev/loopN or "".
std::string attach_loop(const std::string& file, std::string& error);
// Ethernet NICs with a device behind them, sorted, as (name, mac).
std::vector<std::pair<std::string, std::string>> ethernet_interfaces();
// DHCP on one interface with busybox udhcpc; true on a lease.
bool dhcp(const std::string& ifname);
// Moves /dev, /proc, /sys and /run under `newroot`, frees the initramfs and execs its init.
[[noreturn]] void switch_root(const std::string& newroot, const std::string& init);

}  // namespace grappe::init
