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
  std::string cluster;
  std::string key_fingerprint;
  std::string kernel;
  std::string medium;  // "cd/usb", "network" or "unknown"
};

// Reads from a root directory (normally "/"): etc/machine-id, etc/hostname, run/grappe/identity,
// etc/grappe/image.json. Missing pieces stay empty.
NodeInfo read_node_info(const std::string& root);
nlohmann::json to_json(const NodeInfo& n);
std::string ready_line(const NodeInfo& n);  // "grappe: node ready name=… machine-id=…"

}  // namespace grappe
