// The cluster-wide /home. Its founder, the live node with the lowest number (the first node of a
// cluster takes number 1; nodes starting together settle on distinct numbers first), exports its
// /home (a tmpfs) over NFSv4 to the members' network address (overlay.h) of each live member, and
// only to them; every other node mounts it (nosuid, nodev) on its own /home over that network. Numbers are never reused, so a node that joins later never
// moves the share; it moves only when the founder dies (the next lowest takes over) or when two
// clusters that booted apart merge and one of them renumbers (its founder then stops serving and
// mounts the other's). Commands go through the CommandRunner seam on the share's own thread: a
// slow mount never stalls the daemon.
#pragma once
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/command_runner.h"
#include "common/periodic_worker.h"
#include "home/overlay.h"

namespace grappe {

struct HomePeer {
  uint16_t number = 0;
  std::string name;
  uint32_t ip = 0;  // network order; 0 for this node
  std::string wg_pub;  // its members' network public key (base64, overlay_keys)
};

struct HomeView {
  bool settled = false;         // this node has had its number for a few seconds
  HomePeer self;
  std::vector<HomePeer> live;   // the other live members with a number
  std::string wg_priv;          // this node's members' network private key (base64)
};

// The founder: the live node with the lowest number (none until this node's number settled).
std::optional<HomePeer> choose_founder(const HomeView& v);
// The NFS server `/home` is mounted from, per a /proc/mounts text ("" when it is not NFS).
std::string home_server(const std::string& mounts, const std::string& dir = "/home");

class HomeShare {
 public:
  // `net_dir` holds the members' network configuration (overlay.h).
  explicit HomeShare(CommandRunner& run, std::string net_dir = "/run/grappe/overlay",
                     std::string mounts_file = "/proc/mounts", std::string dir = "/home");
  ~HomeShare();                     // stops the worker before anything it uses goes
  void observe(const HomeView& v);  // from the daemon's loop: cheap
  void step(double now);            // one pass of the worker: export or mount as needed
  void start();                     // the worker thread: step() every second until destroyed
  nlohmann::json status() const;

 private:
  bool ok(const std::vector<std::string>& argv, double timeout_s);
  CommandRunner& run_;
  Overlay net_;
  std::string mounts_file_, dir_;
  mutable std::mutex mu_;
  HomeView view_;
  std::string founder_, role_ = "waiting", state_ = "waiting for this node's number", error_;
  uint16_t founder_number_ = 0;
  bool server_started_ = false;
  std::set<uint32_t> exported_;
  double next_start_ = 0, next_mount_ = 0;  // retry times
  PeriodicWorker worker_;  // last: destroyed first
};

}  // namespace grappe
