#include "kernel_check.h"

#include <algorithm>
#include <regex>
#include <sstream>

#include "error.h"

namespace grappe::build {

std::vector<KernelRequirement> parse_requirements(const std::string& text, const std::string& path) {
  std::vector<KernelRequirement> out;
  std::istringstream in(text);
  std::string line;
  static const std::regex re(R"(\s*(CONFIG_[A-Z0-9_]+)=([ym](\|[ym])?)\s*(#\s*(.*))?)");
  for (int n = 1; std::getline(in, line); ++n) {
    auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    std::smatch m;
    if (!std::regex_match(line, m, re))
      throw Error("bad line " + std::to_string(n) + " in " + path, line,
                  "write CONFIG_NAME=y or CONFIG_NAME=y|m, optionally followed by # reason");
    KernelRequirement r;
    r.option = m[1];
    std::string acc = m[2];
    for (char c : acc)
      if (c != '|') r.accepted.emplace_back(1, c);
    r.why = m[5];
    r.line = n;
    out.push_back(r);
  }
  return out;
}

std::map<std::string, std::string> parse_kconfig(const std::string& text) {
  std::map<std::string, std::string> cfg;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CONFIG_", 0) != 0) continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    cfg[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return cfg;
}

std::vector<std::string> unmet_requirements(const std::vector<KernelRequirement>& reqs,
                                            const std::map<std::string, std::string>& config) {
  std::vector<std::string> out;
  for (const auto& r : reqs) {
    auto it = config.find(r.option);
    std::string have = it == config.end() ? "not set" : it->second;
    if (std::find(r.accepted.begin(), r.accepted.end(), have) != r.accepted.end()) continue;
    std::string want;
    for (const auto& a : r.accepted) want += (want.empty() ? "" : " or ") + a;
    out.push_back(r.option + " is " + have + ", needs " + want + (r.why.empty() ? "" : " (" + r.why + ")"));
  }
  return out;
}

}  // namespace grappe::build
