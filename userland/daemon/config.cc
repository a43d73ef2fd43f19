#include "daemon/config.h"

#include <arpa/inet.h>

#include <map>
#include <set>
#include <stdexcept>

#include "common/text_file.h"
#include "common/toml_compat.h"

namespace grappe {
namespace {

const std::map<std::string, std::set<std::string>> kKeys = {
    {"discovery", {"group", "port", "broadcast", "interfaces"}},
    {"node", {"speed", "name"}},
    {"paths", {"socket", "state_dir", "key", "image", "machine_id"}},
    {"cluster", {"name"}},
    {"home", {"share", "size_mb"}},
    {"migration", {"precopy_min_mb"}},
    {"boot", {"serve", "http_port", "admission"}},
    {"dashboard", {"port", "assets"}},
};

[[noreturn]] void bad(const std::string& path, const toml::value& v, const std::string& what, const std::string& valid) {
  throw std::runtime_error(path + " line " + std::to_string(toml_line(v)) + ": " + what + "\n" +
                           toml::format_error("[error] " + what, v, valid) + "\n  valid: " + valid);
}

}  // namespace

DaemonConfig parse_daemon_config(const std::string& text, const std::string& path) {
  DaemonConfig c;
  const toml::value root = parse_toml(text, path);
  for (const auto& [sec, val] : root.as_table()) {
    auto it = kKeys.find(sec);
    if (it == kKeys.end() || !val.is_table()) bad(path, val, "unknown section [" + sec + "]", "discovery, node, paths, cluster, home, migration, boot, dashboard");
    for (const auto& [k, v] : val.as_table())
      if (!it->second.count(k)) {
        std::string valid;
        for (const auto& x : it->second) valid += (valid.empty() ? "" : ", ") + x;
        bad(path, v, "unknown key " + sec + "." + k, valid);
      }
  }
  auto get = [&](const char* sec, const char* key) -> const toml::value* {
    if (!root.contains(sec) || !root.at(sec).contains(key)) return nullptr;
    return &root.at(sec).at(key);
  };
  auto str = [&](const char* sec, const char* key, std::string& out) {
    if (auto* v = get(sec, key)) {
      if (!v->is_string()) bad(path, *v, std::string(sec) + "." + key + " must be a string", "a quoted string");
      out = toml_str(*v);
    }
  };
  str("discovery", "group", c.group);
  in_addr a{};
  if (inet_pton(AF_INET, c.group.c_str(), &a) != 1 || (ntohl(a.s_addr) >> 28) != 14)
    bad(path, *get("discovery", "group"), "discovery.group is not an IPv4 multicast address", "224.0.0.0 to 239.255.255.255, e.g. 239.255.71.82");
  if (auto* v = get("discovery", "port")) {
    if (!v->is_integer() || v->as_integer() < 1 || v->as_integer() > 65535) bad(path, *v, "discovery.port out of range", "1 to 65535");
    c.port = static_cast<uint16_t>(v->as_integer());
  }
  if (auto* v = get("discovery", "broadcast")) {
    if (!v->is_boolean()) bad(path, *v, "discovery.broadcast must be true or false", "true or false");
    c.broadcast = v->as_boolean();
  }
  if (auto* v = get("discovery", "interfaces")) {
    if (!v->is_array()) bad(path, *v, "discovery.interfaces must be an array", "e.g. [\"eth0\"]");
    for (const auto& e : v->as_array()) {
      if (!e.is_string()) bad(path, e, "interface names are strings", "e.g. [\"eth0\"]");
      c.interfaces.push_back(toml_str(e));
    }
  }
  if (auto* v = get("node", "speed")) {
    if (!v->is_integer() || v->as_integer() < 0 || v->as_integer() > 100000000) bad(path, *v, "node.speed out of range", "0 (calibrate) or a positive integer");
    c.speed = static_cast<uint32_t>(v->as_integer());
  }
  str("node", "name", c.name);
  str("paths", "socket", c.socket);
  str("paths", "state_dir", c.state_dir);
  str("paths", "key", c.key_file);
  str("paths", "image", c.image_file);
  str("paths", "machine_id", c.machine_id_file);
  str("cluster", "name", c.cluster);
  if (auto* v = get("home", "share")) {
    if (!v->is_boolean()) bad(path, *v, "home.share must be true or false", "true or false");
    c.share_home = v->as_boolean();
  }
  if (auto* v = get("home", "size_mb")) {
    if (!v->is_integer() || v->as_integer() < 0 || (v->as_integer() > 0 && v->as_integer() < 64) || v->as_integer() > (1 << 22))
      bad(path, *v, "home.size_mb out of range", "0 (a quarter of the founding node's memory) or 64 to 4194304 MB, e.g. 2048");
    c.home_size_mb = static_cast<uint32_t>(v->as_integer());
  }
  if (auto* v = get("migration", "precopy_min_mb")) {
    if (!v->is_integer() || v->as_integer() < 0 || v->as_integer() > (1 << 20))
      bad(path, *v, "migration.precopy_min_mb out of range", "0 (never pre-copy unless asked) to 1048576 MB, e.g. 128");
    c.precopy_min_mb = static_cast<uint32_t>(v->as_integer());
  }
  if (auto* v = get("boot", "serve")) {
    if (!v->is_boolean()) bad(path, *v, "boot.serve must be true or false", "true or false");
    c.boot_serve = v->as_boolean();
  }
  if (auto* v = get("boot", "http_port")) {
    if (!v->is_integer() || v->as_integer() < 1 || v->as_integer() > 65535) bad(path, *v, "boot.http_port out of range", "1 to 65535, e.g. 80");
    c.boot_http_port = static_cast<uint16_t>(v->as_integer());
  }
  if (auto* v = get("boot", "admission")) {
    if (!v->is_string() || !parse_admit_policy(v->as_string(), c.boot_admission))
      bad(path, *v, "boot.admission must be \"auto\", \"listed\" or \"ask\"",
          "\"auto\" (any PC booted from the cluster joins), \"listed\" (only PCs /etc/grappe/boot-nodes.toml names) or "
          "\"ask\" (each PC waits for grappe admit or grappe deny on the serving node)");
  }
  if (auto* v = get("dashboard", "port")) {
    if (!v->is_integer() || v->as_integer() < 0 || v->as_integer() > 65535)
      bad(path, *v, "dashboard.port out of range", "0 (no dashboard) or 1 to 65535, e.g. 7480");
    c.dashboard_port = static_cast<uint16_t>(v->as_integer());
  }
  str("dashboard", "assets", c.dashboard_assets);
  return c;
}

DaemonConfig load_daemon_config(const std::string& path, bool must_exist) {
  auto text = try_read_file(path);
  if (!text) {
    if (must_exist) throw std::runtime_error("cannot read " + path);
    return DaemonConfig{};
  }
  return parse_daemon_config(*text, path);
}

}  // namespace grappe
