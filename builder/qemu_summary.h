// What `grappe-build qemu` tells of the cluster it runs, read from the VMs' serial logs: each
// node's name (its "grappe: node ready name=…" line) and whether it has joined (its "grappe:
// joined cluster …" line; for a single VM, "founded cluster"), and the one line printed once
// every node has: "3 nodes joined cluster grappe in 52 s: node1 grappe-…, …".
#pragma once
#include <string>
#include <vector>

namespace grappe::build {

struct NodeSeen {
  std::string name;     // from the ready line; "" until it is printed
  std::string cluster;  // from the joined/founded line; "" until it is printed
  bool joined = false;  // a joined line, or a founded one when `alone`
};

// One node's state from its serial log. `alone`: the runner started a single VM, whose cluster
// forms when it founds it.
NodeSeen node_seen(const std::string& serial, bool alone);

// The summary once every node has joined and printed its name; "" before.
std::string cluster_summary(const std::vector<NodeSeen>& nodes, double seconds);

}  // namespace grappe::build
