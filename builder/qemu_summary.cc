#include "qemu_summary.h"

#include <cstdio>

namespace grappe::build {
namespace {

// The word after the last `prefix` in `text` (up to a blank or a line end); "" when absent.
std::string word_after(const std::string& text, const std::string& prefix) {
  const size_t at = text.rfind(prefix);
  if (at == std::string::npos) return "";
  const size_t b = at + prefix.size();
  const size_t e = text.find_first_of(" \t\r\n", b);
  return text.substr(b, e == std::string::npos ? std::string::npos : e - b);
}

}  // namespace

NodeSeen node_seen(const std::string& serial, bool alone) {
  NodeSeen n;
  n.name = word_after(serial, "grappe: node ready name=");
  n.cluster = word_after(serial, "grappe: joined cluster ");
  n.joined = !n.cluster.empty();
  if (!n.joined && alone) {
    n.cluster = word_after(serial, "grappe: founded cluster ");
    n.joined = !n.cluster.empty();
  }
  return n;
}

std::string cluster_summary(const std::vector<NodeSeen>& nodes, double seconds) {
  if (nodes.empty()) return "";
  for (const auto& n : nodes)
    if (!n.joined || n.name.empty()) return "";  // the joined line may come before the ready line
  char head[160];
  std::snprintf(head, sizeof head, "%zu node%s %s cluster %s in %.0f s: ", nodes.size(), nodes.size() == 1 ? "" : "s",
                nodes.size() == 1 ? "founded" : "joined", nodes.front().cluster.c_str(), seconds);
  std::string s = head;
  for (size_t i = 0; i < nodes.size(); ++i)
    s += (i ? ", node" : "node") + std::to_string(i + 1) + " " + nodes[i].name;
  return s;
}

}  // namespace grappe::build
