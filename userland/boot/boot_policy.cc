#include "boot/boot_policy.h"

namespace grappe {

bool parse_admit_policy(const std::string& text, AdmitPolicy& out) {
  if (text == "auto") return out = AdmitPolicy::Auto, true;
  if (text == "listed") return out = AdmitPolicy::Listed, true;
  if (text == "ask") return out = AdmitPolicy::Ask, true;
  return false;
}

const char* admit_policy_name(AdmitPolicy p) {
  return p == AdmitPolicy::Auto ? "auto" : p == AdmitPolicy::Listed ? "listed" : "ask";
}

AdmitDecision decide_admission(AdmitPolicy policy, const std::vector<BootNodeRule>& rules,
                               const std::string& rules_error, const std::string& mac, const bool* answered) {
  if (policy == AdmitPolicy::Auto) return {true, false, "policy auto: any PC booted from the cluster"};
  if (policy == AdmitPolicy::Ask) {
    if (!answered) return {false, true, "policy ask: waiting for grappe admit " + mac + " (or deny)"};
    return {*answered, false, *answered ? "policy ask: admitted by root" : "policy ask: denied by root"};
  }
  if (!rules_error.empty()) return {false, false, "policy listed, but the node list cannot be read: " + rules_error};
  const BootNodeRule* r = match_boot_node(rules, mac);
  if (!r) return {false, false, "policy listed: no rule of boot-nodes.toml matches " + mac};
  if (!r->join) return {false, false, "policy listed: its rule " + r->mac + " says join = false"};
  return {true, false, "policy listed: rule " + r->mac};
}

}  // namespace grappe
