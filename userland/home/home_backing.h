// The device the replicated /home lives on when no GRAPPE-HOME disk is offered: a sparse file on a
// tmpfs of its own (/run/grappe/home-ram, sized for the file), on a loop device. RAM is used as
// files are written; discards (fstrim, a resync's zeroes) give it back.
#pragma once
#include <cstdint>
#include <string>

#include "common/command_runner.h"

namespace grappe {

// The default size of a RAM-backed /home for a node with this much memory: a quarter, in whole
// 64 MB, at least 256 MB.
uint32_t ram_home_mb(uint32_t mem_total_mb);

class RamBacking {
 public:
  RamBacking(CommandRunner& run, std::string dir = "/run/grappe/home-ram");
  // A new, empty device of size_mb (any previous one is dropped); "" or why not.
  std::string create(uint32_t size_mb);
  std::string destroy();
  void adopt(std::string dev, uint32_t size_mb) { dev_ = std::move(dev), size_mb_ = size_mb; }  // after a restart
  const std::string& device() const { return dev_; }
  uint32_t size_mb() const { return size_mb_; }

 private:
  std::string step(const std::vector<std::string>& argv, std::string* out = nullptr);
  CommandRunner& run_;
  std::string dir_, dev_;
  uint32_t size_mb_ = 0;
};

}  // namespace grappe
