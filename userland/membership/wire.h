// The peer protocol on the wire: one authenticated UDP datagram per message, at most
// kMaxPacket bytes. Encoding is little-endian and every field is bounds-checked on decode;
// anything malformed, truncated, oversized or badly signed is rejected with a reason, never
// trusted in part. The decoder is fuzzed (tests/fuzz/fuzz_wire.cc).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace grappe {

constexpr size_t kMaxPacket = 1400;
constexpr size_t kMacBytes = 32;
constexpr size_t kMaxName = 63;
using NodeId = std::array<uint8_t, 16>;
using ClusterKey = std::array<uint8_t, 32>;

std::string id_hex(const NodeId& id);
bool id_from_hex(const std::string& hex, NodeId& out);

enum class MsgType : uint8_t { Beacon = 1, Ping = 2, Ack = 3, PingReq = 4, Load = 5, Leave = 6 };
enum class MemberState : uint8_t { Alive = 0, Suspect = 1, Dead = 2, Left = 3 };
const char* state_name(MemberState s);

// A node's load as it advertises it (MOSIX-style load vector entry).
struct LoadInfo {
  NodeId id{};
  uint32_t version = 0;    // origin's counter: higher is fresher
  uint32_t age_ms = 0;     // how old the entry was when sent
  uint16_t cpus = 0;
  uint32_t speed = 0;      // calibrated (or admin-set) relative CPU speed
  uint32_t load_milli = 0; // smoothed run-queue load x 1000
  uint32_t mem_total_mb = 0;
  uint32_t mem_free_mb = 0;
  uint16_t jobs = 0;       // migratable jobs
  uint16_t flags = 0;      // admin flags (block, lstay, …)
  uint16_t daemon_version = 0;
  // The cluster-wide network-boot setting as this node knows it: generation << 1 | on. Every
  // `grappe boot-server enable|disable` bumps the generation; the highest one seen wins.
  uint32_t netboot = 0;
  // The cluster-wide admission policy as this node knows it (generation << 2 | policy code,
  // boot/cluster_policy.h; 0 = never set). The newest generation wins, as for netboot.
  uint32_t admission = 0;
  // Its part in the replicated /home (home/home_role.h): term << 8 | HomeFlag bits; the node it
  // chose as standby (a server's entry); the replicated device's size in MB.
  uint32_t home = 0;
  uint16_t home_peer = 0;
  uint32_t home_mb = 0;
  uint32_t home_used_mb = 0, home_free_mb = 0;  // a server's: its filesystem's use
  bool operator==(const LoadInfo&) const = default;
};

// A membership update (SWIM): who, in which state, at which incarnation.
struct MemberUpdate {
  NodeId id{};
  uint32_t incarnation = 0;
  MemberState state = MemberState::Alive;
  uint16_t number = 0;     // human node number, 0 = not chosen yet
  uint32_t ipv4 = 0;       // network order; 0 = the packet's source address
  uint16_t port = 0;
  std::string name;
  bool operator==(const MemberUpdate&) const = default;
};

struct Message {
  MsgType type = MsgType::Beacon;
  NodeId sender{};
  uint64_t nonce = 0;       // strictly increasing per sender: replay protection
  uint32_t seq = 0;         // Ping/Ack/PingReq
  NodeId target{};          // Ping/PingReq: who is being probed
  uint32_t target_ipv4 = 0; // PingReq
  uint16_t target_port = 0;
  std::vector<MemberUpdate> updates;
  std::vector<LoadInfo> loads;
  bool operator==(const Message&) const = default;
};

// Serialises and signs; returns an empty vector when the message would exceed kMaxPacket.
std::vector<uint8_t> encode(const Message& m, const ClusterKey& key);
// Room left for updates/loads: callers add items while encoded_size() fits.
size_t encoded_size(const Message& m);

enum class DecodeError { None, TooShort, TooLong, BadMagic, BadVersion, BadMac, Malformed };
const char* decode_error_name(DecodeError e);
// Verifies the MAC first, then parses. `err` says why a packet was refused.
std::optional<Message> decode(const uint8_t* data, size_t len, const ClusterKey& key, DecodeError& err);

}  // namespace grappe
