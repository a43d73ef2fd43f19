// `grappe-build qemu`: a cluster of N VMs from the built image on one virtual L2 segment (QEMU
// socket multicast bound to 127.0.0.1, no root needed, no packet leaves the machine), KVM when it
// works and TCG otherwise, serial logs under out/qemu/, every VM stopped by PID on every exit.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace grappe::build {

struct QemuOptions {
  int nodes = 2;
  // cd | uefi | usb | pxe | net | uefi-net, or a comma list: one per node, the last one for the
  // rest (cd,net: node 1 from the CD, every other node from the cluster segment it serves).
  std::string boot = "cd";
  std::string accel = "auto";   // auto | kvm | tcg
  int memory_mb = 1536;
  int cpus = 1;
  int port = 0;                 // multicast port of the segment; 0: derived from the out dir
  bool gui = false;
  std::filesystem::path out = "out";
  std::filesystem::path dir;    // serial logs and VM state; default <out>/qemu
  std::vector<std::string> until;  // stop when every node's serial log contains all of these texts
  int timeout_s = 0;            // with --until: give up after this long (0: scaled default)
  std::filesystem::path hold_net;  // start the net / uefi-net VMs only once this file exists
  std::string stagger;          // start nodes 2.. only once node 1's serial log shows this text
  // Nodes (from 1) given a virtio data disk: <dir>/nodeN-disk.img, made sparse at disk_mb when
  // missing and kept across runs (a GRAPPE-HOME disk: grappe home init /dev/vda).
  std::vector<int> disks;
  int disk_mb = 1024;
};

std::string node_mac(int index, bool boot_nic = false);  // index from 1
// The boot kind of node `index` (from 1) out of --boot's comma list.
std::string node_boot(const std::string& boot, int index);
// The command line of one VM (pure function, unit tested). `http_port` serves out/pxe for --boot pxe.
std::vector<std::string> qemu_command(const QemuOptions& o, int index, const std::string& accel,
                                      const std::filesystem::path& vars_copy, int http_port);
// --until: whether a serial log holds every one of the texts (in any order).
bool until_reached(const std::string& serial, const std::vector<std::string>& until);
// The texts for messages: 'a' and 'b'.
std::string until_text(const std::vector<std::string>& until);
// Runs the cluster; returns the process exit status.
int run_qemu_cluster(QemuOptions o);

}  // namespace grappe::build
