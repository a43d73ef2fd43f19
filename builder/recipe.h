// An image recipe (recipes/*.toml): everything that decides what the image contains.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace grappe::build {

struct Recipe {
  std::string path;  // where it was read from, for messages
  // Line (from 1) of each value given in the file, for messages: "rootfs.suite", and list
  // entries as "rootfs.packages#0" … Absent for defaults.
  std::map<std::string, size_t> lines;

  // [image]
  std::string name = "grappe";
  std::string volume_label = "GRAPPE";
  int64_t source_date_epoch = 0;

  // [rootfs]
  std::string suite = "trixie";
  std::string mirror;  // empty: the build host's own apt mirror
  std::string variant = "minbase";
  std::vector<std::string> packages;

  // [kernel]
  std::string kernel_package = "linux-image-amd64";
  std::vector<std::string> trim;  // module trees under lib/modules/<ver>/ left out of the image

  // [initramfs]
  std::vector<std::string> initramfs_modules;  // candidates for coldplug (plus their deps)
  std::vector<std::string> initramfs_always;   // loaded unconditionally (filesystems, loop)

  // [squashfs]
  std::string compression = "zstd";
  int compression_level = 9;

  // [boot]
  std::string default_entry = "node";  // node | debug | serial
  int timeout_s = 5;
  std::string cmdline;  // appended to every entry

  // [cluster]
  std::string cluster_name = "grappe";
  std::string cluster_key;  // 64 hex chars; empty: a random key per build

  // [userland]
  std::vector<std::string> sdk_packages;
};

// The line of `field` in the recipe file, 0 when it was not given there.
size_t recipe_line(const Recipe& r, const std::string& field);

// Throws build::Error naming file, line, field and what would be valid (an unknown key or
// section: the nearest valid one too).
Recipe load_recipe(const std::string& path);
Recipe parse_recipe(const std::string& text, const std::string& path);

}  // namespace grappe::build
