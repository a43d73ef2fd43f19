// The PC's side of admission (userland/boot/boot_admit.h): a network-booted node carries no
// cluster key, so once its layers are in, grappe-init asks the node that served them for one with
// a fresh X25519 key pair and checks the reply against the boot public key its initrd carries.
#pragma once
#include <array>
#include <cstdint>
#include <string>

namespace grappe::init {

// GET `base`admit?mac=&pk= once, with this boot's one-time key pair (`pub`, `sec`: one pair per
// boot, so root's answer under the `ask` policy is bound to it). True with this PC's member
// credentials as the key file's line (credentials.h, format_member) in `member_line`; false with `why` (refused by the policy, not a cluster node, a forged
// or garbled reply, no answer).
bool ask_admission(const std::string& base, const std::string& mac, const std::array<uint8_t, 32>& boot_pub,
                   const std::array<uint8_t, 32>& pub, const std::array<uint8_t, 32>& sec,
                   const std::string& scratch_file, std::string& member_line, std::string& why);

}  // namespace grappe::init
