// Admission of a PC booted from the network. Nothing a network-booted PC is served carries the
// cluster key; after fetching its layers, grappe-init makes a one-time X25519 key pair and asks the
// node that served it: GET /grappe/admit?mac=MAC&pk=HEX. A member whose policy lets the PC in
// answers with the PC's member credentials (credentials.h: the operating key of the moment, the
// boot signing seed and the join public key, never the invitation) sealed to that public key (crypto_box_seal) and the whole reply
// signed with the cluster's boot signing key (boot_keys.h), whose public half the initrd carries:
// the PC knows the key came from the cluster, and no one who watched the exchange can read it.
// Shared by grapped (makes replies, decides) and grappe-init (checks and opens them).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "boot/boot_keys.h"
#include "boot/credentials.h"

namespace grappe {

using BoxPublic = std::array<uint8_t, 32>;
using BoxSecret = std::array<uint8_t, 32>;

// The reply text (at most kMaxAdmitReply bytes) for the PC of `mac` with one-time key `pc_pub`;
// "" when that key cannot be sealed to (a low-order point).
std::string make_admission(const BootSigningKeys& signer, const Credentials& member, const BoxPublic& pc_pub,
                           const std::string& mac);
constexpr size_t kMaxAdmitReply = 1024;
// Checks the reply against the cluster's boot public key, the PC's one-time key and its MAC, then
// opens the sealed credentials (`out.invited` is false). False with `why` for anything else.
bool open_admission(const std::array<uint8_t, 32>& boot_pub, const BoxPublic& pc_pub, const BoxSecret& pc_sec,
                    const std::string& mac, const std::string& reply, Credentials& out, std::string& why);

// The node id a PC network-booted with `mac` runs under: the first half of the machine-id
// grappe-init derives from it (initramfs/identity.cc; a unit test keeps the two equal).
std::array<uint8_t, 16> node_id_for_mac(const std::string& canonical);

// "52:54:00:12:34:56" from any case and ':' or '-' separators; "" when not a MAC.
std::string canonical_mac(const std::string& mac);

}  // namespace grappe
