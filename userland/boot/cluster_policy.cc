#include "boot/cluster_policy.h"

namespace grappe {
namespace {

uint32_t code_of(AdmitPolicy p) { return p == AdmitPolicy::Auto ? 1 : p == AdmitPolicy::Listed ? 2 : 3; }

}  // namespace

bool policy_of_setting(uint32_t setting, AdmitPolicy& out) {
  switch (setting & 3) {
    case 1: return out = AdmitPolicy::Auto, true;
    case 2: return out = AdmitPolicy::Listed, true;
    case 3: return out = AdmitPolicy::Ask, true;
    default: return false;  // 0: never set; any generation with code 0 is not a setting
  }
}

bool next_policy_setting(uint32_t current, AdmitPolicy p, uint32_t& out) {
  AdmitPolicy ignored;
  const uint32_t gen = policy_of_setting(current, ignored) ? current >> 2 : 0;
  if (gen >= (UINT32_MAX >> 2)) return false;
  out = ((gen + 1) << 2) | code_of(p);
  return true;
}

bool newer_policy_setting(uint32_t seen, uint32_t mine) {
  AdmitPolicy ignored;
  if (!policy_of_setting(seen, ignored)) return false;
  return !policy_of_setting(mine, ignored) || seen > mine;
}

EffectivePolicy effective_policy(uint32_t setting, AdmitPolicy local_default) {
  EffectivePolicy e;
  if (policy_of_setting(setting, e.policy)) {
    e.from = "cluster (grappe boot-server admission)";
  } else {
    e.policy = local_default;
    e.from = "this node's grapped.toml ([boot] admission; no cluster-wide setting yet)";
  }
  return e;
}

}  // namespace grappe
