// The devices the replicated /home lives on.
//  - RAM (no GRAPPE-HOME disk on this node): a sparse file on a tmpfs of its own
//    (/run/grappe/home-ram, sized for the file), on a loop device, with DRBD's metadata at its end.
//    RAM is used as files are written; discards (fstrim, a resync's zeroes) give it back.
//  - A GRAPPE-HOME disk: a partition or whole disk holding an ext4 filesystem labelled GRAPPE-HOME
//    (grappe home init makes one). DRBD's metadata goes on a small RAM file beside it, so the disk
//    holds the filesystem alone, as any such disk does.
#pragma once
#include <cstdint>
#include <string>
#include <utility>

#include "common/command_runner.h"

namespace grappe {

// The default size of a RAM-backed /home for a node with this much memory: a quarter, in whole
// 64 MB, at least 256 MB.
uint32_t ram_home_mb(uint32_t mem_total_mb);
// The room DRBD 8.4's metadata takes for `data_mb` of data (its bitmap: a bit per 4 KB), rounded up.
uint32_t drbd_meta_mb(uint32_t data_mb);

// GRAPPE-HOME disks among `blkid -o device -t LABEL=GRAPPE-HOME`'s lines, less the devices in use
// (mounted per `mounts`, a /proc/mounts text); the first one, or "".
std::string pick_home_disk(const std::string& blkid_out, const std::string& mounts);
// The size of the ext4 filesystem in a `dumpe2fs -h` text, in whole MB (0 when unreadable).
uint32_t ext4_size_mb(const std::string& dumpe2fs_out);
// This node's GRAPPE-HOME disk, probed afresh (no blkid cache): its device and filesystem size;
// {"", 0} when there is none.
std::pair<std::string, uint32_t> find_home_disk(CommandRunner& run, const std::string& mounts);

class RamBacking {
 public:
  RamBacking(CommandRunner& run, std::string dir = "/run/grappe/home-ram");
  // A new, empty device with room for size_mb of data and DRBD's metadata (any previous one is
  // dropped); "" or why not.
  std::string create(uint32_t size_mb);
  // Only a device for the metadata of a GRAPPE-HOME disk of data_mb (meta_device()).
  std::string create_meta(uint32_t data_mb);
  const std::string& meta_device() const { return meta_; }
  std::string destroy();
  void adopt(std::string dev, std::string meta, uint32_t size_mb) {  // after a restart of grapped
    dev_ = std::move(dev), meta_ = std::move(meta), size_mb_ = size_mb;
  }
  const std::string& device() const { return dev_; }
  uint32_t size_mb() const { return size_mb_; }

 private:
  std::string step(const std::vector<std::string>& argv, std::string* out = nullptr);
  std::string make(const std::string& name, uint32_t file_mb, std::string& dev);
  CommandRunner& run_;
  std::string dir_, dev_, meta_;
  uint32_t size_mb_ = 0;
};

}  // namespace grappe
