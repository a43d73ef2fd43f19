#include "home/home_backing.h"

#include <algorithm>

#include "common/text_file.h"

namespace grappe {

uint32_t ram_home_mb(uint32_t mem_total_mb) { return std::max<uint32_t>(256, mem_total_mb / 4 / 64 * 64); }

RamBacking::RamBacking(CommandRunner& run, std::string dir) : run_(run), dir_(std::move(dir)) {}

std::string RamBacking::step(const std::vector<std::string>& argv, std::string* out) {
  return run_checked(run_, argv, 60, out);
}

std::string RamBacking::create(uint32_t size_mb) {
  if (std::string why = destroy(); !why.empty()) return why;
  const std::string file = dir_ + "/home.img";
  // The tmpfs is sized for the file and its DRBD metadata, so /run cannot fill up with /home.
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {"mkdir", "-p", "-m", "0700", dir_},
           {"sh", "-c", "mountpoint -q \"$1\" || mount -t tmpfs -o mode=0700 tmpfs \"$1\"", "sh", dir_},
           {"mount", "-o", "remount,size=" + std::to_string(size_mb + 64) + "m", dir_},
           {"truncate", "-s", std::to_string(size_mb) + "M", file}})
    if (std::string why = step(argv); !why.empty()) return "RAM-backed /home: " + why;
  std::string out;
  if (std::string why = step({"losetup", "--find", "--show", file}, &out); !why.empty()) return "RAM-backed /home: " + why;
  dev_ = first_line(out);
  size_mb_ = size_mb;
  return "";
}

std::string RamBacking::destroy() {
  const std::string file = dir_ + "/home.img";
  // Whatever loop device still has the file (also one a previous grapped left).
  std::string out;
  step({"losetup", "-j", file}, &out);
  for (size_t p = 0; (p = out.find("/dev/loop", p)) != std::string::npos;) {
    const size_t e = out.find(':', p);
    if (e == std::string::npos) break;
    if (std::string why = step({"losetup", "-d", out.substr(p, e - p)}); !why.empty()) return why;
    p = e;
  }
  dev_.clear(), size_mb_ = 0;
  return step({"rm", "-f", file});
}

}  // namespace grappe
