// What a node knows about itself: identity given by grappe-init, and the image it runs.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace grappe {

struct NodeInfo {
  std::string hostname;
  std::string machine_id;
  std::string mac;
  std::string image_name;
  std::string build_id;
  std::string manifest;  // SHA-256 (first 16 hex digits) of usr/share/grappe/manifest.json, "" without one
  std::string cluster;
  std::string key_fingerprint;
  std::string kernel;
  std::string medium;  // "cd/usb", "network" or "unknown"
  std::string not_admitted;  // why this node holds no cluster key (run/grappe/not-admitted); "" when it does
};

// Reads from a root directory (normally "/"): etc/machine-id, etc/hostname, run/grappe/identity,
// etc/grappe/image.json, usr/share/grappe/manifest.json (hashed). Missing pieces stay empty.
NodeInfo read_node_info(const std::string& root);
nlohmann::json to_json(const NodeInfo& n);
// "grappe: node ready name=… machine-id=…", and a second line "grappe: not a cluster member: WHY"
// on a node that holds no cluster key.
std::string ready_line(const NodeInfo& n);

}  // namespace grappe
