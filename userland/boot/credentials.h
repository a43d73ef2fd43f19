// What makes a node a member, and where each part comes from.
// - The *invitation*: the 32-byte secret grappe-build makes per output directory (out/cluster.key),
//   carried by the CD or USB stick only, for root alone. Owning the medium is being invited.
// - The *operating key* of an epoch: what authenticates every packet and peer link and derives
//   the members' network (WireGuard) keys. Epoch 0's is derived from the invitation; `grappe
//   cluster rekey` and `grappe node forget` replace it with a random one on every live member.
// - The *boot signing key* (boot_keys.h): derived from the invitation; its public half is in the
//   initrd. Every member holds it to serve network boot.
// - The *join key*: an Ed25519 pair derived from the invitation. Only medium holders can sign with
//   it: it is how a node booted from a medium asks for the current operating key after a rekey
//   (boot/rejoin.h). Every member holds its public half to check those requests.
// A network-booted PC never holds the invitation: admission (boot_admit.h) gives it the operating
// key of the moment, the boot signing seed and the join public key, so a rekey shuts it out for
// good once it is forgotten. Its key file holds one line (format_member).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "boot/boot_keys.h"

namespace grappe {

struct Credentials {
  bool invited = false;      // this node holds the invitation (booted from a medium)
  ClusterSecret invite{};
  uint32_t epoch = 0;        // of `op`
  ClusterSecret op{};        // the operating key
  std::array<uint8_t, 32> boot_seed{};  // the boot signing key's Ed25519 seed
  std::array<uint8_t, 32> join_pub{};   // checks rejoin requests
};

// Everything an invitation gives: epoch 0's operating key, the boot seed and the join key.
Credentials credentials_from_invitation(const ClusterSecret& invite);
// The join signing key (Ed25519 secret, 64 bytes) of an invitation.
std::array<uint8_t, 64> join_secret(const ClusterSecret& invite);
// The key a medium member signs rejoin replies with (boot/rejoin.h), and its public half. Only
// invitation holders have either: an admitted PC, once forgotten, keeps the boot signing key but
// cannot answer a rejoin in the cluster's name.
std::array<uint8_t, 64> rejoin_reply_secret(const ClusterSecret& invite);
std::array<uint8_t, 32> rejoin_reply_public(const ClusterSecret& invite);
BootSigningKeys boot_keys(const Credentials& c);

// A key file: 64 hex characters (an invitation: a medium node) or one member line
// "grappe-member 1 EPOCH OP BOOTSEED JOINPUB" (an admitted network-booted PC). Nullopt with `why`.
std::optional<Credentials> parse_credentials(const std::string& text, std::string& why);
std::string format_member(const Credentials& c);  // the member line, with its newline

// The admission payload: epoch (4 bytes, little-endian), operating key, boot seed, join key.
constexpr size_t kMemberBlob = 4 + 32 + 32 + 32;
std::array<uint8_t, kMemberBlob> member_blob(const Credentials& c);
Credentials member_from_blob(const std::array<uint8_t, kMemberBlob>& b);

}  // namespace grappe
