// The admin's settings for this node (openMosix's mosctl set): block, lstay, stay, a speed
// override and a guest limit. They live in <state dir>/admin.json, so they survive a grapped
// restart, and the flags travel in this node's load entry so every balancer in the cluster
// honours them. `expel` and `bring` are actions on top: expel blocks and sends guests home,
// bring keeps local jobs home (lstay) and calls home the ones that are away.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace grappe {

struct NodeAdmin {
  uint16_t flags = 0;      // kFlagBlock | kFlagLstay | kFlagStay (balancer.h)
  uint32_t speed = 0;      // 0: the calibrated speed
  int max_guests = -1;     // -1: no limit
  // The cluster-wide network-boot setting (generation << 1 | on; see LoadInfo::netboot).
  uint32_t netboot = 0;
  // The cluster-wide admission policy (generation << 2 | code; boot/cluster_policy.h), 0 = none set.
  uint32_t admission = 0;

  bool netboot_on() const { return netboot & 1; }
  // `grappe boot-server enable|disable`: a new generation, so it wins over every older setting.
  void set_netboot(bool on) { netboot = (((netboot >> 1) + 1) << 1) | (on ? 1u : 0u); }
  // A setting seen in a peer's load entry: true when it is newer and was adopted.
  bool adopt_netboot(uint32_t seen) { return seen > netboot ? (netboot = seen, true) : false; }

  // Applies `grappe node OP [VALUE]`; false with `err` (naming the op and what is valid).
  bool apply(const std::string& op, const std::string& value, std::string& err);
  // Why an incoming job is refused by these settings ("" = welcome). A job coming home is
  // never refused.
  std::string admit(bool coming_home, int guests_now) const;
  nlohmann::json to_json() const;
  static NodeAdmin from_json(const nlohmann::json& j);
};

// Reads the file; a missing file is the default. Throws std::runtime_error naming the file and
// the fix when it exists but cannot be used.
NodeAdmin load_node_admin(const std::string& path);
// Writes through a temporary file and a rename: never half-written.
void save_node_admin(const std::string& path, const NodeAdmin& a);

// Flags the serving node set for this PC when it booted from the network (grappe.flags=block,stay
// on the kernel command line, from its boot-nodes.toml): set on top of the saved settings.
// Returns the flags it set ("" when none; unknown names are ignored).
std::string apply_boot_flags(NodeAdmin& a, const std::string& cmdline);

// "block,lstay" for `grappe nodes`; "-" when none.
std::string flags_text(uint16_t flags);

}  // namespace grappe
