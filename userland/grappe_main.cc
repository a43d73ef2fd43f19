// grappe: the node's command line, the openMosix toolset under one roof. `nodes` is mosmon/showmap;
// `status` is this node and its cluster. Job commands (run, ps, migrate, node …) come with jobs.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include <CLI/CLI.hpp>

#include "api.h"
#include "node_info.h"

using namespace grappe;

namespace {

std::string mem_text(const nlohmann::json& n) {
  if (!n.contains("mem_total_mb")) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.1f/%.1fG", n["mem_free_mb"].get<double>() / 1024, n["mem_total_mb"].get<double>() / 1024);
  return b;
}

void print_nodes(const nlohmann::json& reply) {
  std::printf("%-4s %-22s %-16s %-8s %4s %7s %6s %-12s %4s %6s\n", "NUM", "NAME", "ADDRESS", "STATE", "CPUS", "SPEED",
              "LOAD", "MEM FREE", "JOBS", "AGE");
  auto nodes = reply["nodes"];
  std::sort(nodes.begin(), nodes.end(), [](const auto& a, const auto& b) { return a["number"] < b["number"]; });
  for (const auto& n : nodes) {
    bool load = n.contains("cpus");
    std::string num = n["number"].get<int>() ? std::to_string(n["number"].get<int>()) : "-";
    std::string name = n["name"].get<std::string>() + (n["self"].get<bool>() ? "*" : "");
    std::printf("%-4s %-22s %-16s %-8s %4s %7s %6s %-12s %4s %6s\n", num.c_str(), name.c_str(),
                n["address"].get<std::string>().c_str(), n["state"].get<std::string>().c_str(),
                load ? std::to_string(n["cpus"].get<int>()).c_str() : "-",
                load ? std::to_string(n["speed"].get<int>()).c_str() : "-",
                load ? (std::to_string(n["load"].get<double>()).substr(0, 4)).c_str() : "-", mem_text(n).c_str(),
                load ? std::to_string(n["jobs"].get<int>()).c_str() : "-",
                load ? (std::to_string(n["info_age_s"].get<double>()).substr(0, 4) + "s").c_str() : "-");
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"grappe: the Grappe cluster toolset"};
  app.set_version_flag("--version", std::string("grappe ") + GRAPPE_VERSION);
  app.require_subcommand(1);
  std::string root = "/", socket = "/run/grappe/grapped.sock";
  app.add_option("--root", root, "root directory to read node state from (for tests)")->capture_default_str();
  app.add_option("--socket", socket, "grapped's API socket")->capture_default_str();

  bool json = false, watch = false;
  double interval = 1.0;
  auto* status = app.add_subcommand("status", "this node and its cluster: name, identity, image, cluster size, health");
  status->add_flag("--json", json, "machine-readable output");
  auto* nodes = app.add_subcommand("nodes", "every node of the cluster with its state and load (mosmon)");
  nodes->add_flag("--json", json, "machine-readable output");
  nodes->add_flag("-w,--watch", watch, "refresh until interrupted");
  nodes->add_option("--interval", interval, "seconds between refreshes with --watch")->capture_default_str();
  auto* ready = app.add_subcommand("ready", "print the node-ready line (used by grappe-ready.service)");

  CLI11_PARSE(app, argc, argv);
  auto info = read_node_info(root);
  if (*ready) {
    std::printf("%s\n", ready_line(info).c_str());
    return info.hostname.empty() || info.machine_id.empty() ? 1 : 0;
  }
  try {
    if (*nodes) {
      do {
        auto reply = api_call(socket, {{"v", kApiVersion}, {"cmd", "nodes"}});
        if (watch && !json) std::printf("\033[H\033[2J");
        if (json) std::printf("%s\n", reply["nodes"].dump(2).c_str());
        else print_nodes(reply);
        std::fflush(stdout);
        if (watch) std::this_thread::sleep_for(std::chrono::duration<double>(interval));
      } while (watch);
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "grappe: %s\n", e.what());
    return 2;
  }
  if (*status) {
    nlohmann::json daemon;
    std::string err;
    try {
      daemon = api_call(socket, {{"v", kApiVersion}, {"cmd", "status"}});
    } catch (const std::exception& e) {
      err = e.what();
    }
    if (json) {
      auto j = to_json(info);
      if (err.empty()) j["cluster_status"] = daemon;
      else j["daemon_error"] = err;
      std::printf("%s\n", j.dump(2).c_str());
      return err.empty() ? 0 : 1;
    }
    std::printf("node      %s (number %s)\nmachine   %s\nmac       %s\nimage     %s build %s (%s)\nkernel    %s\n",
                info.hostname.c_str(),
                err.empty() ? std::to_string(daemon["self"]["number"].get<int>()).c_str() : "?",
                info.machine_id.c_str(), info.mac.empty() ? "-" : info.mac.c_str(), info.image_name.c_str(),
                info.build_id.c_str(), info.medium.c_str(), info.kernel.c_str());
    if (!err.empty()) {
      std::printf("cluster   %s (grapped not reachable)\n", info.cluster.c_str());
      std::fprintf(stderr, "grappe: %s\n", err.c_str());
      return 1;
    }
    auto p = daemon["packets"];
    std::printf("cluster   %s, %d nodes (%d alive, %d suspect, %d dead or left), key %s\n"
                "health    %s: %llu packets accepted, %llu rejected, %llu replays dropped, up %.0f s\n",
                daemon["cluster"].get<std::string>().c_str(), daemon["size"].get<int>(), daemon["alive"].get<int>(),
                daemon["suspect"].get<int>(), daemon["dead"].get<int>(), daemon["key_fingerprint"].get<std::string>().c_str(),
                daemon["suspect"].get<int>() ? "degraded" : "ok", p["accepted"].get<unsigned long long>(),
                p["rejected"].get<unsigned long long>(), p["replayed"].get<unsigned long long>(),
                daemon["uptime_s"].get<double>());
  }
  return 0;
}
