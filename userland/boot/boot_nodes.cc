#include "boot/boot_nodes.h"

#include <algorithm>
#include <cctype>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "common/toml_compat.h"

namespace grappe {
namespace {

[[noreturn]] void bad_rule(const std::string& path, const toml::value& v, const std::string& what, const std::string& valid) {
  throw std::runtime_error(path + " line " + std::to_string(toml_line(v)) + ": " + what + "\n  valid: " + valid);
}

std::string normal_mac(std::string m) {
  for (auto& c : m) c = c == '-' ? ':' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return m;
}

bool glob(const char* p, const char* s) {
  for (; *p; ++p, ++s) {
    if (*p == '*') {
      for (const char* t = s;; ++t) {
        if (glob(p + 1, t)) return true;
        if (!*t) return false;
      }
    }
    if (!*s || (*p != '?' && *p != *s)) return false;
  }
  return !*s;
}

}  // namespace

std::vector<BootNodeRule> parse_boot_nodes(const std::string& text, const std::string& path) {
  const toml::value root = parse_toml(text, path);
  std::vector<BootNodeRule> rules;
  for (const auto& [key, val] : root.as_table())
    if (key != "node") bad_rule(path, val, "unknown key '" + key + "'", "[[node]] entries");
  if (!root.contains("node")) return rules;
  const toml::value& nodes = root.at("node");
  if (!nodes.is_array()) bad_rule(path, nodes, "'node' must be a list of [[node]] entries", "[[node]] followed by mac = \"…\"");
  static const std::regex mac_re("[0-9a-f:*?]{1,17}"), host_re("[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?");
  for (const auto& n : nodes.as_array()) {
    if (!n.is_table()) bad_rule(path, n, "a node entry must be a table", "[[node]]");
    BootNodeRule r;
    for (const auto& [k, v] : n.as_table()) {
      if (k == "mac") {
        if (!v.is_string()) bad_rule(path, v, "mac must be a string", "\"52:54:00:12:34:56\" or a pattern like \"52:54:00:*\"");
        r.mac = normal_mac(toml_str(v));
        if (!std::regex_match(r.mac, mac_re))
          bad_rule(path, v, "mac '" + toml_str(v) + "' is not a MAC address or pattern", "hex digits and ':' (or '-'), with * and ? as wildcards");
      } else if (k == "hostname") {
        if (!v.is_string() || !std::regex_match(toml_str(v), host_re))
          bad_rule(path, v, "hostname must be a host name", "lower-case letters, digits and '-', at most 63, not starting or ending with '-'");
        r.hostname = toml_str(v);
      } else if (k == "join") {
        if (!v.is_boolean()) bad_rule(path, v, "join must be true or false", "true (joins the cluster, the default) or false (only boots)");
        r.join = v.as_boolean();
      } else if (k == "flags") {
        if (!v.is_array()) bad_rule(path, v, "flags must be a list", "[\"block\", \"lstay\", \"stay\"] or a part of it");
        for (const auto& f : v.as_array()) {
          if (!f.is_string() || (toml_str(f) != "block" && toml_str(f) != "lstay" && toml_str(f) != "stay"))
            bad_rule(path, f, "unknown flag", "block, lstay, stay");
          if (std::find(r.flags.begin(), r.flags.end(), toml_str(f)) == r.flags.end()) r.flags.push_back(toml_str(f));
        }
      } else {
        bad_rule(path, v, "unknown field '" + k + "'", "mac, hostname, join, flags");
      }
    }
    if (r.mac.empty()) bad_rule(path, n, "a node entry without mac", "mac = \"52:54:00:12:34:56\" (or a pattern)");
    if (!r.hostname.empty() && r.mac.find_first_of("*?") != std::string::npos)
      bad_rule(path, n, "hostname '" + r.hostname + "' for the pattern " + r.mac + " would give every matching PC the same name",
          "one [[node]] entry per PC for host names");
    rules.push_back(std::move(r));
  }
  return rules;
}

const BootNodeRule* match_boot_node(const std::vector<BootNodeRule>& rules, const std::string& mac) {
  const std::string m = normal_mac(mac);
  for (const auto& r : rules)
    if (glob(r.mac.c_str(), m.c_str())) return &r;
  return nullptr;
}

std::string boot_node_args(const BootNodeRule& r) {
  std::string a;
  if (!r.hostname.empty()) a += " grappe.hostname=" + r.hostname;
  if (!r.join) a += " grappe.join=0";
  if (!r.flags.empty()) {
    a += " grappe.flags=";
    for (size_t i = 0; i < r.flags.size(); ++i) a += (i ? "," : "") + r.flags[i];
  }
  return a;
}

}  // namespace grappe
