#include "boot_copy.h"

#include <filesystem>
#include <sstream>

#include "common/text_file.h"

namespace grappe::init {
namespace fs = std::filesystem;

std::map<std::string, std::string> parse_sums(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream l(line);
    std::string hash, name;
    if (!(l >> hash >> name) || hash.size() != 64) continue;
    if (hash.find_first_not_of("0123456789abcdef") != std::string::npos) continue;
    if (!name.empty() && name[0] == '*') name.erase(0, 1);  // sha256sum's binary-mode marker
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") continue;
    out[name] = hash;
  }
  return out;
}

const std::vector<std::pair<std::string, std::string>>& mirrored_boot_files() {
  static const std::vector<std::pair<std::string, std::string>> files = {
      {"vmlinuz", "boot/vmlinuz"},       {"initrd.img", "boot/initrd.img"},     {"boot.ipxe", "pxe/boot.ipxe"},
      {"undionly.kpxe", "pxe/undionly.kpxe"}, {"snponly.efi", "pxe/snponly.efi"}};
  return files;
}

namespace {
std::string copy_boot_files(const std::string& base_url, const std::map<std::string, std::string>& layers,
                            const std::map<std::string, std::string>& layer_files, const std::string& medium,
                            const Fetcher& fetch) {
  std::error_code ec;
  const fs::path m(medium);
  fs::create_directories(m / "live", ec);
  fs::create_directories(m / "boot", ec);
  fs::create_directories(m / "pxe", ec);
  if (ec) return "cannot create " + medium + ": " + ec.message();
  std::string err;
  const std::string sums_path = (m / "live/SHA256SUMS").string();
  if (fetch(base_url + "SHA256SUMS", sums_path, err).empty()) return "cannot fetch " + base_url + "SHA256SUMS: " + err;
  const auto sums = parse_sums(read_text(sums_path));
  for (const auto& [name, hash] : layers) {
    auto it = sums.find(name);
    if (it == sums.end() || it->second != hash)
      return base_url + "SHA256SUMS does not match the layer " + name + " this node booted (the image served changed?)";
  }
  for (const auto& [name, rel] : mirrored_boot_files()) {
    auto it = sums.find(name);
    if (it == sums.end()) return base_url + "SHA256SUMS lists no " + name + " (an image built before network-booted nodes could serve?)";
    const std::string dest = (m / rel).string();
    const std::string got = fetch(base_url + name, dest, err);
    if (got.empty()) return "cannot fetch " + base_url + name + ": " + err;
    if (got != it->second) {
      fs::remove(dest, ec);
      return "SHA-256 mismatch for " + base_url + name + ": expected " + it->second + ", got " + got;
    }
  }
  for (const auto& [name, path] : layer_files) {
    fs::create_hard_link(path, m / "live" / name, ec);
    if (ec) {
      ec.clear();
      fs::copy_file(path, m / "live" / name, fs::copy_options::overwrite_existing, ec);
    }
    if (ec) return "cannot link " + path + " into " + (m / "live").string() + ": " + ec.message();
  }
  return "";
}
}  // namespace

std::string mirror_boot_files(const std::string& base_url, const std::map<std::string, std::string>& layers,
                              const std::map<std::string, std::string>& layer_files, const std::string& medium,
                              const Fetcher& fetch) {
  std::string why = copy_boot_files(base_url, layers, layer_files, medium, fetch);
  std::error_code ec;
  if (!why.empty()) fs::remove_all(medium, ec);  // nothing half-copied stays in RAM
  return why;
}

}  // namespace grappe::init
