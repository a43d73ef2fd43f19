// Kernel module index: modules.dep and modules.alias, the dependency closure and modalias
// matching. Used at build time (which modules go into the initramfs) and by grappe-init at boot
// (which of them a device needs).
#pragma once
#include <map>
#include <string>
#include <vector>

namespace grappe::init {

struct ModuleIndex {
  std::map<std::string, std::vector<std::string>> deps;  // relative path -> dependency paths
  std::map<std::string, std::string> by_name;            // module name -> relative path
  std::vector<std::pair<std::string, std::string>> aliases;  // (glob pattern, module name)

  void add_dep_text(const std::string& modules_dep);
  void add_alias_text(const std::string& modules_alias);

  // The paths of `names` and of everything they depend on, sorted. Unknown names go to `missing`
  // (a module built into the kernel has no file and is simply absent from modules.dep).
  std::vector<std::string> closure(const std::vector<std::string>& names,
                                   std::vector<std::string>* missing = nullptr) const;
  // Dependencies of one module path in load order (deepest first), without the module itself.
  std::vector<std::string> load_order(const std::string& path) const;
  // Names of modules whose alias pattern matches a device's modalias string.
  std::vector<std::string> match(const std::string& modalias) const;
};

// "kernel/fs/isofs/isofs.ko.xz" -> "isofs"; dashes become underscores, as the kernel does.
std::string module_name(const std::string& path);
// Drops a .xz/.zst/.gz suffix: the initramfs stores modules uncompressed.
std::string strip_compression(const std::string& path);
// True when `path` lies in one of the `trees` (whole path components, e.g. "kernel/sound").
bool under_any(const std::string& path, const std::vector<std::string>& trees);

}  // namespace grappe::init
