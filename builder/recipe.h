// An image recipe (recipes/*.toml): everything that decides what the image contains.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace grappe::build {

struct Recipe {
  std::string path;  // where it was read from, for messages

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
  int compression_level = 15;

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

// Throws build::Error naming file, line, field and what would be valid.
Recipe load_recipe(const std::string& path);
Recipe parse_recipe(const std::string& text, const std::string& path);

}  // namespace grappe::build
