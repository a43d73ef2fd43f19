// Checks a kernel's config against kernel/requirements (what process migration and a live boot
// need), so a wrong kernel package stops the build with the missing options named.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace grappe::build {

struct KernelRequirement {
  std::string option;                 // CONFIG_FOO
  std::vector<std::string> accepted;  // e.g. {"y"} or {"y","m"}
  std::string why;                    // the comment after '#', shown when it is missing
  int line = 0;
};

std::vector<KernelRequirement> parse_requirements(const std::string& text, const std::string& path);
std::map<std::string, std::string> parse_kconfig(const std::string& text);
// One human-readable line per unmet requirement; empty when the kernel is fine.
std::vector<std::string> unmet_requirements(const std::vector<KernelRequirement>& reqs,
                                            const std::map<std::string, std::string>& config);

}  // namespace grappe::build
