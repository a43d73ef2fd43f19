// The members' network that /home travels on: a WireGuard interface (grappe0, UDP port 7424)
// whose peers are exactly the live members, each at an address of its own in 10.251.0.0/16 (node
// N is 10.251.N/256.N%256). The founder exports /home to those addresses only, and WireGuard
// accepts a packet from such an address only when it was sealed with that member's key: a host
// that takes a member's LAN address, or claims its overlay address, cannot mount /home.
//
// Each node's key pair is derived from the cluster secret and its node id (overlay_keys), so every
// member computes every other member's public key from membership alone (no key on the wire), and
// a host without the secret computes none. The interface outlives grapped (a restart must not cut
// the /home that jobs write to); grapped brings it to the wanted state again when it starts.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/command_runner.h"

namespace grappe {

constexpr const char* kOverlayIf = "grappe0";
constexpr uint16_t kOverlayPort = 7424;

uint32_t overlay_ip(uint16_t number);  // network order
// The address /home is served at (10.250.0.1): it moves with the server of /home (home_role.h).
// Every node routes it into grappe0; the server's peer entry is allowed it, and the server holds it.
uint32_t home_ip();
std::string ip4_text(uint32_t ip);     // network order -> dotted quad

struct OverlayKeys {
  std::string priv, pub;  // base64, as wg(8) reads them
};
// Keyed BLAKE2b of the node id under the cluster secret, clamped as Curve25519 wants it.
OverlayKeys overlay_keys(std::span<const uint8_t> secret, std::span<const uint8_t> node_id);

struct OverlayPeer {
  std::string pub;        // base64
  uint32_t endpoint = 0;  // its LAN address, network order
  uint16_t number = 0;
  bool home = false;      // it serves /home: also allowed home_ip()
  bool operator==(const OverlayPeer&) const = default;
};

// The wg(8) configuration of this node's interface: its key, port, and one [Peer] per member,
// each allowed its own overlay address only.
std::string overlay_conf(const std::string& priv, const std::vector<OverlayPeer>& peers);

class Overlay {
 public:
  // `dir` holds the configuration (the private key in it): made 0700, the file 0600.
  Overlay(CommandRunner& run, std::string dir);
  // Brings grappe0 to this node's address and these peers, running only what changed since the
  // last call. "" when done, else what failed and what to check.
  // `serves_home`: this node holds home_ip().
  std::string sync(const std::string& priv, uint16_t number, const std::vector<OverlayPeer>& peers,
                   bool serves_home = false);

 private:
  std::string run(const std::vector<std::string>& argv);
  CommandRunner& run_;
  std::string dir_;
  bool created_ = false;
  std::string applied_conf_;
  uint16_t applied_number_ = 0;
  int applied_home_ = -1;  // serves_home as applied; -1: not yet
};

}  // namespace grappe
