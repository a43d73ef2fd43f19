// grappe-membership-sim: the real membership code on the in-memory segment, for cluster sizes
// that network namespaces cannot reach. Starting from a formed cluster of N nodes it measures:
// a new node's join until every node sees it alive, a crash until every node sees it dead, and
// steady-state traffic per node. Prints one JSON object.
#include <chrono>
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "sim_network.h"

using namespace grappe;

int main(int argc, char** argv) {
  CLI::App app{"grappe-membership-sim: membership protocol at scale on a simulated segment"};
  int n = 100;
  double loss = 0, limit = 60;
  uint64_t seed = 1;
  app.add_option("-n,--nodes", n, "cluster size")->capture_default_str();
  app.add_option("--loss", loss, "packet loss ratio")->capture_default_str();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--limit", limit, "protocol seconds allowed per phase")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  auto wall0 = std::chrono::steady_clock::now();
  SimNetwork net(seed, MembershipConfig{}, loss);
  for (int i = 0; i < n; ++i) net.add_node("n" + std::to_string(i));
  net.form_cluster();
  net.run_for(3);  // settle

  // Steady state traffic.
  uint64_t p0 = net.packets, b0 = net.bytes;
  double t0 = net.now;
  net.run_for(5);
  double secs = net.now - t0;
  double pkts_per_node = static_cast<double>(net.packets - p0) / n / secs;
  double bytes_per_node = static_cast<double>(net.bytes - b0) / n / secs;

  // Join.
  int newcomer = net.add_node("newcomer");
  t0 = net.now;
  while (net.now - t0 < limit && !net.all_see(MemberState::Alive, {newcomer})) net.run_for(0.05);
  double join = net.now - t0;
  bool joined = net.all_see(MemberState::Alive, {newcomer});
  net.run_for(3);

  // Crash.
  net.crash(0);
  t0 = net.now;
  double first_suspect = -1, first_dead = -1;
  while (net.now - t0 < limit && !net.all_see(MemberState::Dead, {0})) {
    net.run_for(0.05);
    if (first_suspect < 0)
      for (size_t v = 1; v < net.nodes_.size() && first_suspect < 0; ++v)
        if (net.state_seen(static_cast<int>(v), 0) != MemberState::Alive) first_suspect = net.now - t0;
    if (first_dead < 0)
      for (size_t v = 1; v < net.nodes_.size() && first_dead < 0; ++v)
        if (net.state_seen(static_cast<int>(v), 0) == MemberState::Dead) first_dead = net.now - t0;
  }
  double dead = net.now - t0;
  bool detected = net.all_see(MemberState::Dead, {0});
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  nlohmann::json j = {{"nodes", n},
                      {"loss", loss},
                      {"join_visible_everywhere_s", joined ? join : -1},
                      {"first_suspicion_s", first_suspect},
                      {"dead_everywhere_s", detected ? dead : -1},
                      {"dissemination_s", detected && first_dead >= 0 ? dead - first_dead : -1},
                      {"suspicion_timeout_s", net.nodes_[1].m->suspicion_timeout()},
                      {"packets_per_node_per_s", pkts_per_node},
                      {"bytes_per_node_per_s", bytes_per_node},
                      {"wall_s", wall}};
  std::printf("%s\n", j.dump().c_str());
  return joined && detected ? 0 : 1;
}
