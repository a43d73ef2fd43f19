#include "cli/home_init.h"

#include <sys/stat.h>

#include <filesystem>
#include <sstream>

#include "common/text_file.h"

namespace grappe {
namespace fs = std::filesystem;

namespace {

std::string mb_text(uint64_t bytes) { return std::to_string(bytes >> 20) + " MB"; }

// The whole disk a partition belongs to (/sys/class/block/vda1 -> .../vda/vda1), else the name.
std::string disk_of(const std::string& sys, const std::string& name) {
  std::error_code ec;
  if (!fs::exists(fs::path(sys) / name / "partition", ec)) return name;
  const fs::path real = fs::canonical(fs::path(sys) / name, ec);
  return ec ? name : real.parent_path().filename().string();
}

}  // namespace

DiskFacts disk_facts(const std::string& dev, const std::string& sys, const std::string& mounts,
                     const std::string& medium_dev) {
  DiskFacts f;
  std::error_code ec;
  const fs::path real = fs::weakly_canonical(dev, ec);
  f.dev = ec ? dev : real.string();
  struct stat st{};
  f.block = ::stat(f.dev.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
  const std::string name = fs::path(f.dev).filename().string();
  const fs::path base = fs::path(sys) / name;
  f.bytes = std::strtoull(first_line(read_text((base / "size").string())).c_str(), nullptr, 10) * 512;
  f.model = first_line(read_text((base / "device/model").string()));
  if (fs::is_directory(base, ec))
    for (const auto& e : fs::directory_iterator(base, ec))
      if (fs::exists(e.path() / "partition")) f.partitions.push_back(e.path().filename().string());
  if (fs::is_directory(base / "holders", ec))
    for (const auto& e : fs::directory_iterator(base / "holders", ec)) f.held_by = e.path().filename().string();
  std::istringstream in(mounts);
  for (std::string line; std::getline(in, line);) {
    std::istringstream w(line);
    std::string what, where;
    w >> what >> where;
    if (what == f.dev) f.mounted = where;
    for (const auto& p : f.partitions)
      if (what == "/dev/" + p) f.mounted = where;
  }
  if (!medium_dev.empty()) {
    const std::string m = fs::path(medium_dev).filename().string();
    f.boot_medium = m == name || disk_of(sys, m) == name;
  }
  return f;
}

std::string home_init_refusal(const DiskFacts& f, bool force, uint64_t size_mb) {
  if (!f.block) return f.dev + " is not a block device: give a disk or a partition, e.g. /dev/sdb or /dev/sdb1 (lsblk lists them)";
  if (f.boot_medium)
    return f.dev + " holds the medium this node booted from: give another disk (lsblk lists them)";
  if (!f.mounted.empty()) return f.dev + " is mounted on " + f.mounted + ": unmount it first, or give another disk";
  if (!f.held_by.empty()) return f.dev + " is in use by " + f.held_by + ": give another disk";
  if (!f.partitions.empty() && !force)
    return f.dev + " has partitions (" + [&] {
      std::string s;
      for (const auto& p : f.partitions) s += (s.empty() ? "" : ", ") + p;
      return s;
    }() + "): give one of them, or add --force to erase the whole disk";
  if (f.bytes < (64ull << 20)) return f.dev + " is too small (" + mb_text(f.bytes) + "): /home needs at least 64 MB";
  if (size_mb && (size_mb << 20) > f.bytes)
    return "--size " + std::to_string(size_mb) + " is larger than " + f.dev + " (" + mb_text(f.bytes) + ")";
  if (size_mb && size_mb < 64) return "--size " + std::to_string(size_mb) + ": /home needs at least 64 MB";
  return "";
}

std::vector<std::string> home_init_mkfs(const std::string& dev, uint64_t size_mb) {
  std::vector<std::string> a = {"mkfs.ext4", "-F", "-q", "-m", "0", "-L", "GRAPPE-HOME", "-E",
                                "lazy_itable_init=1,lazy_journal_init=1", dev};
  if (size_mb) a.push_back(std::to_string(size_mb) + "M");
  return a;
}

}  // namespace grappe
