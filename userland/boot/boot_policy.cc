#include "boot/boot_policy.h"

namespace grappe {

bool parse_admit_policy(const std::string& text, AdmitPolicy& out) {
  if (text == "auto") return out = AdmitPolicy::Auto, true;
  if (text == "listed") return out = AdmitPolicy::Listed, true;
  return false;
}

const char* admit_policy_name(AdmitPolicy p) { return p == AdmitPolicy::Auto ? "auto" : "listed"; }

AdmitDecision decide_admission(AdmitPolicy policy, const std::vector<BootNodeRule>& rules,
                               const std::string& rules_error, const std::string& mac) {
  if (policy == AdmitPolicy::Auto) return {true, "policy auto: any PC booted from the cluster"};
  if (!rules_error.empty()) return {false, "policy listed, but the node list cannot be read: " + rules_error};
  const BootNodeRule* r = match_boot_node(rules, mac);
  if (!r) return {false, "policy listed: no rule of boot-nodes.toml matches " + mac};
  if (!r->join) return {false, "policy listed: its rule " + r->mac + " says join = false"};
  return {true, "policy listed: rule " + r->mac};
}

}  // namespace grappe
