// grapped's replies to the local API's {"v":1,"cmd":"nodes"} and {"v":1,"cmd":"status"} (protocol:
// common/api_protocol.h); the router (api_router.h, api_commands.h) calls them; the job commands
// are in jobs/job_service.h.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "common/api_protocol.h"
#include "membership/membership.h"

namespace grappe {


struct DaemonCounters {
  uint64_t received = 0, accepted = 0, replayed = 0, sent = 0, send_errors = 0;
  uint64_t bytes_received = 0, bytes_sent = 0;  // UDP payload bytes
  std::map<std::string, uint64_t> rejected;  // by decode error name
};

struct DaemonInfo {
  std::string cluster;
  std::string key_fingerprint;
  double started = 0;
  std::string socket;
  uint16_t port = 0;
  std::string migration = "ready";  // or why this node cannot checkpoint
  nlohmann::json home;               // the shared /home (home_share.h); null when not shared
  nlohmann::json boot;               // the network-boot service (boot_service.h)
  nlohmann::json handshakes;         // peer connections not yet authenticated (handshake_gate.h)
  nlohmann::json keys;               // the operating key's epoch, this node's credential, rejoins
};

nlohmann::json member_json(const Member& m, double now, bool self);
nlohmann::json nodes_reply(const Membership& mb, double now);
// The PCs waiting to join (policy ask) added to a nodes reply from the boot service's status
// (`boot`: DaemonInfo::boot): on the serving node "pending" lists them ({mac, address, key,
// waiting_s, admit}) and "pending_server" names this node (`self`); on the others, under the ask
// policy, "pending_on" names the serving node, which alone knows them. Every field type-checked.
void add_pending(nlohmann::json& reply, const nlohmann::json& boot, const std::string& self);
nlohmann::json status_reply(const Membership& mb, const DaemonInfo& info, const DaemonCounters& c, double now);


}  // namespace grappe
