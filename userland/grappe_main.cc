// grappe: the node's command line. This first version reports the node itself; the cluster
// commands (nodes, ps, run, migrate, node …) arrive with grapped.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "node_info.h"

int main(int argc, char** argv) {
  CLI::App app{"grappe: the Grappe cluster toolset (this node's view)"};
  app.set_version_flag("--version", std::string("grappe ") + GRAPPE_VERSION);
  app.require_subcommand(1);
  std::string root = "/";
  app.add_option("--root", root, "root directory to read node state from (for tests)")->capture_default_str();

  bool json = false;
  auto* status = app.add_subcommand("status", "this node: name, identity, image, cluster");
  status->add_flag("--json", json, "machine-readable output");
  auto* ready = app.add_subcommand("ready", "print the node-ready line (used by grappe-ready.service)");

  CLI11_PARSE(app, argc, argv);
  auto info = grappe::read_node_info(root);
  if (*ready) {
    std::printf("%s\n", grappe::ready_line(info).c_str());
    return info.hostname.empty() || info.machine_id.empty() ? 1 : 0;
  }
  if (*status) {
    if (json) {
      std::printf("%s\n", grappe::to_json(info).dump(2).c_str());
      return 0;
    }
    std::printf("node      %s\nmachine   %s\nmac       %s\nimage     %s build %s (%s)\ncluster   %s key %s\nkernel    %s\n",
                info.hostname.c_str(), info.machine_id.c_str(), info.mac.empty() ? "-" : info.mac.c_str(),
                info.image_name.c_str(), info.build_id.c_str(), info.medium.c_str(), info.cluster.c_str(),
                info.key_fingerprint.c_str(), info.kernel.c_str());
  }
  return 0;
}
