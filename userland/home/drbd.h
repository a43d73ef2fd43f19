// The replicated block device under /home: one DRBD resource ("home", /dev/drbd0) between the
// server and its standby, protocol C (a write is acknowledged once it is on both nodes' backing
// devices), over the members' network (overlay.h: WireGuard authenticates and encrypts it), driven
// with drbdadm through the CommandRunner seam. Debian's kernel carries DRBD 8.4 (drbd-utils picks
// its drbdadm-84); its state is read from /proc/drbd.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/command_runner.h"

namespace grappe {

constexpr uint16_t kDrbdPort = 7789;

struct DrbdState {
  bool configured = false;  // the minor exists (not "Unconfigured")
  std::string cs, role, peer_role, disk, peer_disk;  // connection state, ro:, ds: (8.4 names)
  double sync_pct = -1;     // resync progress when one runs, else -1
  bool up_to_date() const { return disk == "UpToDate"; }
  bool peer_up_to_date() const { return peer_disk == "UpToDate"; }
};
// The state of `minor` in a /proc/drbd text (8.4 layout); never throws.
DrbdState parse_proc_drbd(const std::string& text, int minor = 0);

struct DrbdSpec {
  std::string disk;        // backing device, e.g. /dev/loop3
  uint32_t self_ip = 0;    // members'-network addresses, network order
  uint32_t peer_ip = 0;    // 0: no standby (the resource stays StandAlone)
  // Metadata on this device (a GRAPPE-HOME disk's, kept in RAM: the disk holds the filesystem
  // whole, so any ext4 labelled GRAPPE-HOME serves); "" = at the end of `disk` (RAM-backed).
  std::string meta;
  uint32_t size_mb = 0;    // the replicated size, the same on both nodes (0: the device's)
};
// The resource's configuration. DRBD needs a peer section: with no standby it names an address no
// node has, and `Drbd` keeps the resource disconnected.
std::string drbd_conf(const DrbdSpec& s);

class Drbd {
 public:
  // dir: /run/grappe/drbd (0700); helper_param: the module's usermode_helper parameter.
  Drbd(CommandRunner& run, std::string dir,
       std::string helper_param = "/sys/module/drbd/parameters/usermode_helper");
  // Each returns "" when done, else what failed.
  std::string write(const DrbdSpec& s);       // the configuration, replaced whole
  std::string create(bool fresh);             // modprobe; create-md when `fresh`; up
  std::string primary(bool force);            // force: a new resource's first primary
  std::string secondary();
  std::string adjust();                       // apply a changed peer
  std::string disconnect(bool force = false);  // force: even with the peer's requests pending
  std::string down();
  const DrbdSpec& spec() const { return spec_; }

 private:
  std::string adm(std::vector<std::string> args, double timeout_s = 60);
  CommandRunner& run_;
  std::string dir_, helper_param_;
  DrbdSpec spec_;
};

}  // namespace grappe
