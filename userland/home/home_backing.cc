#include "home/home_backing.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "common/text_file.h"

namespace grappe {

uint32_t ram_home_mb(uint32_t mem_total_mb) { return std::max<uint32_t>(256, mem_total_mb / 4 / 64 * 64); }

uint32_t drbd_meta_mb(uint32_t data_mb) { return data_mb / 32768 + 2; }

std::string pick_home_disk(const std::string& blkid_out, const std::string& mounts) {
  std::istringstream in(blkid_out);
  for (std::string dev; std::getline(in, dev);) {
    // A RAM-backed /home's loop device and DRBD's own device carry the label too.
    if (dev.rfind("/dev/", 0) != 0 || dev.rfind("/dev/loop", 0) == 0 || dev.rfind("/dev/drbd", 0) == 0 ||
        dev.rfind("/dev/ram", 0) == 0 || dev.rfind("/dev/zram", 0) == 0)
      continue;
    bool used = false;
    std::istringstream m(mounts);
    for (std::string line; std::getline(m, line);) used |= line.rfind(dev + " ", 0) == 0;
    if (!used) return dev;
  }
  return "";
}

uint32_t ext4_size_mb(const std::string& text) {
  uint64_t blocks = 0, size = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto num = [&](const char* key, uint64_t& v) {
      if (line.rfind(key, 0) == 0) v = std::strtoull(line.c_str() + std::strlen(key), nullptr, 10);
    };
    num("Block count:", blocks);
    num("Block size:", size);
  }
  return static_cast<uint32_t>(std::min<uint64_t>(blocks * size >> 20, UINT32_MAX));
}

std::pair<std::string, uint32_t> find_home_disk(CommandRunner& run, const std::string& mounts) {
  CommandResult r = run.run({"blkid", "-c", "/dev/null", "-o", "device", "-t", "LABEL=GRAPPE-HOME"}, 30);
  const std::string dev = r.status == 0 ? pick_home_disk(r.output, mounts) : "";
  if (dev.empty()) return {"", 0};
  CommandResult d = run.run({"dumpe2fs", "-h", dev}, 30);
  const uint32_t mb = d.status == 0 ? ext4_size_mb(d.output) : 0;
  return mb ? std::pair<std::string, uint32_t>{dev, mb} : std::pair<std::string, uint32_t>{"", 0};
}

RamBacking::RamBacking(CommandRunner& run, std::string dir) : run_(run), dir_(std::move(dir)) {}

std::string RamBacking::step(const std::vector<std::string>& argv, std::string* out) {
  return run_checked(run_, argv, 60, out);
}

// A sparse file of file_mb on the tmpfs, on a loop device.
std::string RamBacking::make(const std::string& name, uint32_t file_mb, std::string& dev) {
  const std::string file = dir_ + "/" + name;
  // The tmpfs is sized for the file, so /run cannot fill up with /home.
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {"mkdir", "-p", "-m", "0700", dir_},
           {"sh", "-c", "mountpoint -q \"$1\" || mount -t tmpfs -o mode=0700 tmpfs \"$1\"", "sh", dir_},
           {"mount", "-o", "remount,size=" + std::to_string(file_mb + 64) + "m", dir_},
           {"truncate", "-s", std::to_string(file_mb) + "M", file}})
    if (std::string why = step(argv); !why.empty()) return why;
  std::string out;
  if (std::string why = step({"losetup", "--find", "--show", file}, &out); !why.empty()) return why;
  dev = first_line(out);
  return "";
}

std::string RamBacking::create(uint32_t size_mb) {
  if (std::string why = destroy(); !why.empty()) return why;
  if (std::string why = make("home.img", size_mb + drbd_meta_mb(size_mb), dev_); !why.empty()) return "RAM-backed /home: " + why;
  size_mb_ = size_mb;
  return "";
}

std::string RamBacking::create_meta(uint32_t data_mb) {
  if (std::string why = destroy(); !why.empty()) return why;
  if (std::string why = make("meta.img", drbd_meta_mb(data_mb), meta_); !why.empty()) return "GRAPPE-HOME metadata: " + why;
  size_mb_ = data_mb;
  return "";
}

std::string RamBacking::destroy() {
  for (const char* name : {"home.img", "meta.img"}) {
    const std::string file = dir_ + "/" + name;
    // Whatever loop device still has the file (also one a previous grapped left).
    std::string out;
    step({"losetup", "-j", file}, &out);
    for (size_t p = 0; (p = out.find("/dev/loop", p)) != std::string::npos;) {
      const size_t e = out.find(':', p);
      if (e == std::string::npos) break;
      if (std::string why = step({"losetup", "-d", out.substr(p, e - p)}); !why.empty()) return why;
      p = e;
    }
    if (std::string why = step({"rm", "-f", file}); !why.empty()) return why;
  }
  dev_.clear(), meta_.clear(), size_mb_ = 0;
  return "";
}

}  // namespace grappe
