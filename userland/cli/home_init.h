// `grappe home init DEVICE`: makes a disk or partition the cluster's persistent /home (an ext4
// filesystem labelled GRAPPE-HOME, which grapped finds within 10 s). What it refuses is decided
// from facts gathered about the device (DiskFacts), so the rules are unit tested without disks.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/command_runner.h"

namespace grappe {

struct DiskFacts {
  std::string dev;                      // resolved path, e.g. /dev/vda
  bool block = false;                   // a block device
  uint64_t bytes = 0;
  std::string model;                    // for the confirmation, may be ""
  std::vector<std::string> partitions;  // e.g. vda1 (a whole disk's)
  std::string mounted;                  // the mount point of it or of one of its partitions, ""
  std::string held_by;                  // a holder (DRBD, a loop, device-mapper), ""
  bool boot_medium = false;             // it holds, or is, the medium this node booted from
};

// Reads the facts of `dev` from /sys (`sys`, /sys/class/block), a /proc/mounts text and the
// device the medium is mounted from ("" on a network-booted node).
DiskFacts disk_facts(const std::string& dev, const std::string& sys, const std::string& mounts,
                     const std::string& medium_dev);
// "" when `grappe home init` may erase the device, else why not and what to do.
std::string home_init_refusal(const DiskFacts& f, bool force, uint64_t size_mb);
// The mkfs command line: ext4, labelled GRAPPE-HOME, of size_mb (0: the whole device).
std::vector<std::string> home_init_mkfs(const std::string& dev, uint64_t size_mb);

}  // namespace grappe
