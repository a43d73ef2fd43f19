#include "common/node_info.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <sodium.h>

#include "common/text_file.h"

namespace grappe {
namespace {

std::string trimmed_line(const std::string& s) {
  auto l = s.substr(0, s.find('\n'));
  while (!l.empty() && (l.back() == ' ' || l.back() == '\r')) l.pop_back();
  return l;
}

}  // namespace

NodeInfo read_node_info(const std::string& root) {
  NodeInfo n;
  n.hostname = trimmed_line(read_text(root + "/etc/hostname"));
  n.machine_id = trimmed_line(read_text(root + "/etc/machine-id"));
  std::istringstream id(read_text(root + "/run/grappe/identity"));
  for (std::string l; std::getline(id, l);)
    if (l.rfind("mac=", 0) == 0) n.mac = l.substr(4);
  auto img = nlohmann::json::parse(read_text(root + "/etc/grappe/image.json"), nullptr, false);
  if (img.is_object()) {
    n.image_name = img.value("name", "");
    n.build_id = img.value("build_id", "");
    n.cluster = img.value("cluster", "");
    n.key_fingerprint = img.value("key_fingerprint", "");
    n.kernel = img.value("kernel", "");
  }
  if (const std::string m = read_text(root + "/usr/share/grappe/manifest.json"); !m.empty()) {
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(m.data()), m.size());
    static const char* kHex = "0123456789abcdef";
    for (int i = 0; i < 8; ++i) n.manifest += {kHex[h[i] >> 4], kHex[h[i] & 15]};
  }
  namespace fs = std::filesystem;
  std::error_code ec;  // the medium is root's alone (it carries the key): never look inside it
  if (fs::exists(root + "/run/grappe/fetched", ec)) n.medium = "network";
  else if (fs::is_directory(root + "/run/grappe/medium", ec)) n.medium = "cd/usb";
  else n.medium = "unknown";
  n.not_admitted = trimmed_line(read_text(root + "/run/grappe/not-admitted"));
  return n;
}

nlohmann::json to_json(const NodeInfo& n) {
  return {{"hostname", n.hostname}, {"machine_id", n.machine_id}, {"mac", n.mac},
          {"image", n.image_name},  {"build_id", n.build_id},     {"manifest", n.manifest}, {"cluster", n.cluster},
          {"key_fingerprint", n.key_fingerprint}, {"kernel", n.kernel}, {"medium", n.medium},
          {"member", n.not_admitted.empty()}, {"not_admitted", n.not_admitted}};
}

std::string ready_line(const NodeInfo& n) {
  return "grappe: node ready name=" + (n.hostname.empty() ? "?" : n.hostname) +
         " machine-id=" + (n.machine_id.empty() ? "?" : n.machine_id) +
         (n.not_admitted.empty() ? "" : "\ngrappe: not a cluster member: " + n.not_admitted);
}

}  // namespace grappe
