// The cluster-wide admission policy (`grappe boot-server admission auto|listed|ask`): one 32-bit
// setting, generation << 2 | policy code (1 auto, 2 listed, 3 ask), kept in admin.json and carried
// in every load entry (membership/wire.h), like the network-boot switch. The newest generation
// wins; at equal generations the higher value wins, so every member settles on the same policy.
// 0 means never set for the cluster: each node then uses its own `[boot] admission`.
#pragma once
#include <cstdint>
#include <string>

#include "boot/boot_policy.h"

namespace grappe {

// The policy a setting names; false for 0 (never set) and for a malformed value (code 0).
bool policy_of_setting(uint32_t setting, AdmitPolicy& out);
// `grappe boot-server admission P` on a node whose setting is `current`: the next generation.
// A valid current setting at the last generation stays as it is (false: cannot go newer).
bool next_policy_setting(uint32_t current, AdmitPolicy p, uint32_t& out);
// A setting heard from a peer: true when `seen` is well formed and newer than `mine`.
bool newer_policy_setting(uint32_t seen, uint32_t mine);

struct EffectivePolicy {
  AdmitPolicy policy = AdmitPolicy::Auto;
  std::string from;  // "cluster (grappe boot-server admission)" or "this node's grapped.toml"
};
// The policy in force: the cluster-wide setting once one exists, else the local default.
EffectivePolicy effective_policy(uint32_t setting, AdmitPolicy local_default);

}  // namespace grappe
