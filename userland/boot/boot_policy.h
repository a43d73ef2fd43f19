// Who a network-booted PC asking for the cluster key (boot_admit.h) is let in by: the serving
// node's policy, from [boot] admission in grapped.toml.
#pragma once
#include <string>
#include <vector>

#include "boot/boot_nodes.h"

namespace grappe {

// Who gets in: `auto` lets in any PC that network-boots from the cluster (zero configuration);
// `listed` only those a rule of /etc/grappe/boot-nodes.toml matches; `ask` makes each PC wait,
// pending, until root on the serving node runs `grappe admit MAC` or `grappe deny MAC`.
enum class AdmitPolicy { Auto, Listed, Ask };
bool parse_admit_policy(const std::string& text, AdmitPolicy& out);  // "auto" | "listed" | "ask"
const char* admit_policy_name(AdmitPolicy p);

struct AdmitDecision {
  bool admit = false;
  bool pending = false;  // `ask`, and root has not answered for this PC yet
  std::string why;       // for the journal and `grappe boot-server status`
};
// `rules_error` non-empty: boot-nodes.toml could not be read; `listed` then admits no one.
// `answered` (ask): root's answer for this MAC, if any (true = admit).
AdmitDecision decide_admission(AdmitPolicy policy, const std::vector<BootNodeRule>& rules,
                               const std::string& rules_error, const std::string& mac,
                               const bool* answered = nullptr);

}  // namespace grappe
