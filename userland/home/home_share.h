// The cluster-wide /home, replicated. One node serves it: its data is on a DRBD device
// (drbd.h; RAM-backed, home_backing.h) replicated synchronously to one standby, mounted at
// /run/grappe/home-store and bound on its own /home; it exports it over NFSv4 (fsid=0) at the
// address that follows the server (home_ip(), 10.250.0.1) on the members' network (overlay.h), to
// the live members' addresses only. Every other node mounts 10.250.0.1:/ on /home (nosuid, nodev).
//
// Who serves, who stands by and when the standby takes over is home_role.h's plan, made by each
// node from the roles the members advertise (their load entries carry advert()). When the server
// dies, the standby promotes its copy, exports it, takes the address, and every member's mount
// continues at the same address: no remount. A server that loses its majority stops exporting.
//
// The role survives a restart of grapped (jobs keep writing to /home meanwhile): it is kept in
// /run/grappe/home/state.json and taken up again when the DRBD device is still there. Commands go
// through the CommandRunner seam on the share's own thread: a slow mount never stalls the daemon.
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
#include "home/drbd.h"
#include "home/home_backing.h"
#include "home/home_role.h"
#include "home/overlay.h"

namespace grappe {

struct HomePeer {
  uint16_t number = 0;
  std::string name;
  uint32_t ip = 0;     // network order; 0 for this node
  std::string wg_pub;  // its members' network public key (base64, overlay_keys)
  HomeAdvert ad;       // its part in /home, as it advertises it
};

struct HomeView {
  bool settled = false;         // this node has had its number for a few seconds
  HomePeer self;
  std::vector<HomePeer> live;   // the other live (or suspect) members with a number
  std::string wg_priv;          // this node's members' network private key (base64)
  uint32_t mem_total_mb = 0;    // this node's memory (the default size of a RAM-backed /home)
  std::vector<uint16_t> left;   // members that left cleanly (a restart of grapped says so too)
};

// The founder: the live node with the lowest number (none until this node's number settled). The
// network-boot service is the founder's; /home's server is home_role.h's.
std::optional<HomePeer> choose_founder(const HomeView& v);
// The mark a server leaves at its filesystem's root: "grappe-home term N".
constexpr const char* kHomeMark = ".grappe-home";
uint32_t home_mark_term(const std::string& text);  // N from a text holding the mark, else 0
// The processes with a file, directory or root under `dir`, per a /proc tree (`proc`).
std::vector<int> holders_of(const std::string& proc, const std::string& dir);
// The NFS server `/home` is mounted from, per a /proc/mounts text ("" when it is not NFS).
std::string home_server(const std::string& mounts, const std::string& dir = "/home");
// What is mounted on `dir` (the last mount there) in /proc/mounts' text: "" when nothing is.
std::string mount_source(const std::string& mounts, const std::string& dir);

struct HomePaths {
  std::string net = "/run/grappe/overlay", drbd = "/run/grappe/drbd", ram = "/run/grappe/home-ram",
              store = "/run/grappe/home-store", state = "/run/grappe/home/state.json", mounts = "/proc/mounts",
              proc_drbd = "/proc/drbd", dir = "/home", drbd_helper = "/sys/module/drbd/parameters/usermode_helper",
              proc = "/proc";
};

class HomeShare {
 public:
  // size_mb: of a RAM-backed /home this node founds (0: ram_home_mb of its memory).
  explicit HomeShare(CommandRunner& run, HomePaths paths = {}, uint32_t size_mb = 0);
  ~HomeShare();                     // stops the worker before anything it uses goes
  void observe(const HomeView& v);  // from the daemon's loop: cheap
  void step(double now);            // one pass of the worker
  void start();                     // the worker thread: step() every second until destroyed
  nlohmann::json status() const;
  HomeAdvert advert() const;        // for this node's load entry
  // `grappe home hand-over` (a clean shutdown, `grappe node expel`): the worker gives /home to the
  // standby soon: stops exporting, unmounts, makes its DRBD device Secondary, and the standby takes
  // /home over at once (home_role: released). kill: processes of this node holding files in /home
  // are killed first (at shutdown); else they make it fail (they would lose their files). "" when
  // asked, else why not (this node does not serve /home, or no standby holds a complete copy).
  std::string request_hand_over(bool kill);
  static constexpr const char* kNotServing = "this node does not serve /home";
  void stop() { worker_.stop(); }
  std::vector<std::string> take_events();  // role changes, for the journal
  // "" while /home has a server and a standby in sync; else why it is degraded (held for 30 s
  // before it is said, so a resync at start-up is no alarm).
  std::string degraded() const;

 private:
  enum class Local { None, Server, Standby };
  bool ok(const std::vector<std::string>& argv, double timeout_s);
  bool ok_why(const std::string& why);
  void event(const std::string& what);
  void recover();
  void save();
  void found(const HomeView& v, const HomePlan& p, double now);
  void promote(const HomeView& v, const HomePlan& p, const std::vector<OverlayPeer>& peers, double now);
  void serve(const HomeView& v, const HomePlan& p, bool standby = true);  // standby: (re)configure DRBD's peer
  void stand_by(const HomeView& v, const HomePlan& p, double now);
  void teardown();
  void unexport_all();
  bool bind_home();
  void rebind_home(double now);
  void reset_home_connections();
  bool mount_client(double now);  // true when /home is mounted from home_ip()
  std::string hand_over(bool kill);  // "" when done, else why not (this node serves on)
  void probe_disk(double now);
  void mark(uint32_t term);
  void measure(const HomeView& v, uint16_t server);

  CommandRunner& run_;
  HomePaths paths_;
  uint32_t size_mb_;
  Overlay net_;
  Drbd drbd_;
  RamBacking ram_;
  Quorum quorum_;
  mutable std::mutex mu_;  // guards what status(), advert() and observe() touch
  HomeView view_;
  HomePlan plan_;
  Local local_ = Local::None;
  uint32_t term_ = 0;
  uint16_t server_ = 0, standby_ = 0;
  uint16_t home_peer_ = 0;  // the peer this node routes /home's address to
  bool fenced_ = false, nfs_started_ = false, in_sync_ = false;
  bool released_ = false;  // a standby saw its server's device Secondary (handed over)
  DrbdState drbd_state_;
  std::string state_ = "waiting for this node's number", error_;
  std::set<uint32_t> exported_;
  double next_try_ = 0, next_mount_ = 0, next_bind_ = 0, found_since_ = -1;
  HomeAction last_action_ = HomeAction::Wait;
  uint64_t used_mb_ = 0, free_mb_ = 0;
  std::string degraded_why_;  // as of the last step, "" when in sync
  double degraded_since_ = -1, last_now_ = 0;
  double server_left_since_ = -1;  // this standby's server left cleanly at (-1: it did not)
  std::string disk_;          // this node's GRAPPE-HOME disk ("" none), probed every 10 s
  uint32_t disk_mb_ = 0;      // its filesystem's size
  uint32_t disk_term_ = 0;    // the term its /home was last served at (0: a new disk)
  bool on_disk_ = false;      // this node's role (server or standby) is on that disk
  double next_probe_ = 0;
  bool handover_req_ = false, handover_kill_ = false;
  std::string handover_why_;  // why the last hand-over asked for did not happen, "" else
  std::vector<std::string> events_;
  PeriodicWorker worker_;  // last: destroyed first
};

}  // namespace grappe
