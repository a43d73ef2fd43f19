// Rejoining after a rekey, for a node booted from a medium. The medium carries the invitation, not
// the operating key of the moment (credentials.h), so a node that boots from one after `grappe
// cluster rekey` (or missed the rekey while down or cut off) asks for it: a UDP request, multicast
// and broadcast on the cluster port, signed with the join key (which only an invitation gives),
// carrying its node id, its epoch and a one-time X25519 public key. A member at a newer epoch that
// holds the invitation too answers to the request's source with the operating key sealed to that
// one-time key, signed with the rejoin reply key (credentials.h), which admitted PCs never get. A
// recorded request replayed gets a reply nobody else can open; members refuse requests from
// forgotten nodes. Both parsers are fuzzed (tests/fuzz/fuzz_boot.cc).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "boot/boot_admit.h"

namespace grappe {

using NodeBytes = std::array<uint8_t, 16>;

struct RejoinRequest {
  uint32_t epoch = 0;  // the requester's
  NodeBytes id{};
  BoxPublic pk{};      // one-time
};

constexpr size_t kRejoinRequestBytes = 4 + 1 + 4 + 16 + 32 + 64;
constexpr size_t kRejoinReplyBytes = 4 + 1 + 32 + (4 + 32 + 48) + 64;

// True when the datagram starts like a rejoin request or reply (not a membership packet).
bool is_rejoin_request(const uint8_t* p, size_t n);
bool is_rejoin_reply(const uint8_t* p, size_t n);

std::vector<uint8_t> make_rejoin_request(const std::array<uint8_t, 64>& join_sec, const RejoinRequest& r);
// Nullopt unless well formed and signed with the join key of `join_pub`.
std::optional<RejoinRequest> read_rejoin_request(const uint8_t* p, size_t n, const std::array<uint8_t, 32>& join_pub);

// The reply for `r` with the operating key of `epoch`; empty when `r.pk` cannot be sealed to.
std::vector<uint8_t> make_rejoin_reply(const std::array<uint8_t, 64>& reply_sec, const RejoinRequest& r, uint32_t epoch,
                                       const ClusterSecret& op);
// Checks the rejoin reply key's signature and that it answers `pk`, then opens it. False for
// anything else.
bool open_rejoin_reply(const uint8_t* p, size_t n, const std::array<uint8_t, 32>& reply_pub, const BoxPublic& pk,
                       const BoxSecret& sk, uint32_t& epoch, ClusterSecret& op);

}  // namespace grappe
