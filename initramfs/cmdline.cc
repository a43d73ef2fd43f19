#include "cmdline.h"

#include <cctype>
#include <sstream>

namespace grappe::init {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::map<std::string, std::string> parse_cmdline(const std::string& line) {
  std::map<std::string, std::string> out;
  size_t i = 0, n = line.size();
  while (i < n) {
    while (i < n && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i >= n) break;
    std::string tok;
    bool quoted = false;
    while (i < n && (quoted || !std::isspace(static_cast<unsigned char>(line[i])))) {
      if (line[i] == '"') quoted = !quoted;
      else tok += line[i];
      ++i;
    }
    auto eq = tok.find('=');
    if (eq == std::string::npos) out[tok] = "";
    else out[tok.substr(0, eq)] = tok.substr(eq + 1);
  }
  return out;
}

std::map<std::string, std::string> parse_conf(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (l.empty() || l[0] == '#') continue;
    auto eq = l.find('=');
    if (eq != std::string::npos) out[l.substr(0, eq)] = l.substr(eq + 1);
  }
  return out;
}

InitConfig make_config(const std::map<std::string, std::string>& conf, const std::map<std::string, std::string>& cmd,
                       std::string& error) {
  InitConfig c;
  auto get = [](const std::map<std::string, std::string>& m, const char* k, std::string& v) {
    auto it = m.find(k);
    if (it != m.end()) v = it->second;
  };
  std::string layers, always, fetch, sha, timeout;
  get(conf, "label", c.label);
  get(conf, "build", c.build);
  get(conf, "kernel", c.kernel);
  get(conf, "layers", layers);
  get(conf, "always", always);
  get(conf, "pub", c.boot_pub);
  get(cmd, "grappe.label", c.label);
  get(cmd, "grappe.build", c.build);
  get(cmd, "grappe.fetch", fetch);
  get(cmd, "grappe.sha256", sha);
  get(cmd, "grappe.hostname", c.hostname);
  get(cmd, "grappe.timeout", timeout);
  get(cmd, "BOOTIF", c.bootif);
  get(cmd, "grappe.mac", c.bootif);
  c.layers = split(layers, ' ');
  c.always = split(always, ' ');
  c.fetch = split(fetch, ',');
  c.sha256 = split(sha, ',');
  c.discover = !cmd.count("grappe.discover") || cmd.at("grappe.discover") != "0";
  c.debug = cmd.count("grappe.debug") > 0;
  c.shell = c.debug || cmd.count("grappe.shell") > 0;
  if (!timeout.empty()) {
    char* end = nullptr;
    long t = std::strtol(timeout.c_str(), &end, 10);
    if (*end || t < 1 || t > 3600) error = "grappe.timeout must be 1..3600 seconds, got '" + timeout + "'";
    else c.timeout_s = static_cast<int>(t);
  }
  if (!c.fetch.empty()) {
    if (c.sha256.size() != c.fetch.size())
      error = "grappe.fetch names " + std::to_string(c.fetch.size()) + " URLs but grappe.sha256 gives " +
              std::to_string(c.sha256.size()) + " hashes; give one SHA-256 per URL, in the same order";
    for (const auto& h : c.sha256)
      if (h.size() != 64 || h.find_first_not_of("0123456789abcdef") != std::string::npos)
        error = "grappe.sha256 entry '" + h + "' is not 64 lower-case hex characters";
    for (const auto& u : c.fetch)
      if (u.rfind("http://", 0) != 0) error = "grappe.fetch URL '" + u + "' must start with http://";
  }
  if (c.label.empty() && c.fetch.empty()) error = "no medium label and no grappe.fetch: nothing to boot from";
  return c;
}

}  // namespace grappe::init
