// grapped's event loop: the membership logic wired to a UDP socket (unicast, multicast and
// broadcast on one port) and to the local API socket, with this node's load sampled twice a
// second. Every packet is authenticated, replay-checked and size-bounded before it is used.
#pragma once
#include <array>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>

#include "daemon/admin_commands.h"
#include "daemon/api_router.h"
#include "daemon/api_server.h"
#include "balance/balance_loop.h"
#include "daemon/config.h"
#include "jobs/job_inspect.h"
#include "jobs/job_service.h"
#include "balance/job_history.h"
#include "balance/load.h"
#include "balance/speed.h"
#include "common/text_store.h"
#include "membership/key_ring.h"
#include "membership/membership.h"
#include "boot/credentials.h"
#include "migration/migrator.h"
#include "boot/boot_service.h"
#include "home/home_share.h"
#include "dashboard/dashboard_http.h"
#include "balance/node_admin.h"
#include "membership/replay.h"

namespace grappe {

struct DaemonIdentity {
  NodeId id{};
  std::string name;
  Credentials creds;  // boot/credentials.h: an invitation (medium) or an admitted PC's
  std::string cluster;
  uint32_t incarnation = 0;
  uint16_t number = 0;
  uint32_t speed = 0;
  uint64_t job_seq = 1;
};

class Daemon {
 public:
  Daemon(DaemonConfig cfg, DaemonIdentity ident);
  ~Daemon();
  int run();  // returns when SIGTERM/SIGINT arrives, after announcing the leave

 private:
  class Udp;
  class World;  // daemon_admin.cc: the job and member tables as the balancing work sees them
  void receive_udp(double now);
  void open_udp();
  void open_api();
  void wire_jobs();
  void start_migrator();
  ApiRouter api_router();
  void serve_api(double now, bool incoming);  // incoming: the API socket has connections to accept
  void accept_clients(double now);
  void read_client(size_t i, double now);  // one read, and up to 64 of the complete lines in it
  void sample_load(double now, bool now_too = false);  // now_too: also off its schedule
  void recalibrate(double now);
  void record_history(const Job& j);
  void share_home(double now);
  HomeView home_view(double now);
  void adopt_boot_settings();  // daemon_boot.cc
  void serve_boot(double now, const HomeView& v);  // the network-boot setting and service
  // `grappe admit|deny MAC` (policy ask): answered here when this node serves network boot, else
  // forwarded to the node that does (null: the reply comes later). answer_here: without the lock.
  nlohmann::json answer_admission(const std::string& op, const std::string& mac, const Caller& who);
  nlohmann::json answer_here(const std::string& mac, bool admit, const std::string& by);
  uint16_t boot_server_ = 0;  // the founder's number: the node serving network boot when it is on
  void save_state();
  void adopt_jobs();  // daemon_jobs.cc: the jobs an earlier grapped left running
  void save_jobs();   // when the list of running jobs changed
  void dispatch(size_t client, const std::string& line, double now);
  void announce_cluster();
  size_t client_index(int id) const;  // by connection id (Caller::client)
  int next_connection_id();
  std::optional<PeerAddr> resolve_node(const std::string& node) const;
  bool node_alive(const std::string& name) const;
  // daemon_admin.cc: what the admin commands and the balancing work need of the daemon.
  void balance(double now);
  uint16_t published_flags() const;
  int guests() const;
  std::string placeable(int node) const;

  DaemonConfig cfg_;
  DaemonIdentity ident_;
  Membership mb_;
  DaemonCounters counters_;
  DaemonInfo info_;
  std::map<NodeId, ReplayWindow> replay_;
  LoadModel load_;
  double last_sample_ = -1, next_sample_ = 0;
  size_t running_here_ = 0;  // jobs running on this node at the last loop turn
  double next_calibration_ = 0;
  SpeedEstimate speed_est_;  // start-up calibration, then the median of idle ones (speed.h)
  FileStore store_;
  JobHistory history_;       // finished jobs' work by command (<state_dir>/history.json)
  double number_since_ = -1, next_home_ = 0;
  std::map<NodeId, OverlayKeys> overlay_keys_;  // members' network keys, by node id
  bool announced_join_ = false;
  bool announced_found_ = false;
  int udp_ = -1, api_ = -1;
  // The loop sleeps in poll() until the next grid point (loop_timer.h); a migration or relay thread
  // that queues a line for a client wakes it through this pipe, so the line goes out at once, not
  // at the next timeout.
  int wake_[2] = {-1, -1};
  std::thread::id loop_thread_;
  void wake_loop();
  // Every interface's multicast group (and, when asked, broadcast address) on the cluster port.
  void for_each_segment(bool with_broadcast, const std::function<void(const sockaddr_in& to)>& fn);
  // daemon_keys.cc: the operating key's epochs (a rekey, a node forgotten, a rejoin after one).
  std::optional<Message> decode_any(const uint8_t* p, size_t n, DecodeError& err, double now);
  bool receive_rejoin(const uint8_t* p, size_t n, const sockaddr_in& from, double now);  // true: it was one
  void keys_tick(double now);  // a staged key committed, an epoch change taken in, rejoin requests
  nlohmann::json cluster_command(const std::string& op, const std::string& value, const Caller& who);
  nlohmann::json home_hand_over(bool kill, const Caller& who);  // grappe home hand-over
  // `change`: a node to forget (true) or forget no more (false), in the list the rekey carries.
  nlohmann::json start_rekey(const Caller& who, const std::string& what, bool grace,
                             std::optional<std::pair<NodeId, bool>> change);
  void adopt_list_locked(const ForgottenList& list);  // mu_ held
  std::string take_rekey(const KeyEpoch& next, bool grace, const ForgottenList& list);  // without the lock
  void adopt_forgotten(const ForgottenList& list);  // without the lock: a newer list replaces ours
  void share_forgotten();  // with members that joined since the list last changed
  Credentials member_credentials() const;  // what an admitted PC gets: never the invitation
  bool is_forgotten(const NodeId& id) const;
  void load_forgotten();
  void save_forgotten();
  void save_opkey(const KeyEpoch& k);
  nlohmann::json keys_status() const;
  std::shared_ptr<KeyRing> ring_;
  uint32_t epoch_seen_ = 0;
  mutable std::mutex forgot_mu_;  // forgotten_ is read by the boot service's HTTP threads too
  std::set<NodeId> forgotten_;
  uint32_t forgotten_version_ = 0;    // the key epoch at which the list last changed
  std::optional<ForgottenList> pending_list_;  // carried by a staged rekey: adopted if it commits
  KeyEpoch pending_key_;                 // the staged key that list came with
  std::map<NodeId, double> share_retry_;  // when a member may be sent the list again
  std::set<NodeId> told_forgotten_;  // members this node gave its forgotten list to
  bool rekeying_ = false;
  struct Rejoin {
    std::array<uint8_t, 32> pk{}, sk{};  // the pair of the latest request (a new one each time)
    double next = 0, asked_at = -1;
    uint64_t asked = 0, answered = 0, refused = 0;
    std::string last;  // the last rejoin, as the console said it
    std::map<uint32_t, double> answered_at;  // by source address: at most one answer a second
  } rejoin_;
  uint64_t nonce_;
  uint64_t beacons_ = 0;
  struct Client {
    int fd;
    std::string buf;   // request bytes not handled yet
    std::string out;   // reply and event lines not written yet
    double since;
    Caller who;
    bool streaming = false;  // attached to a job: stays open, no request timeout
    bool closing = false;    // close once `out` is written
    bool gone = false;       // the peer closed or failed: close now
  };
  std::vector<Client> clients_;
  bool write_client(Client& c);  // a non-blocking write of its queue; true while some is left
  int next_id_ = 0;  // the last connection id given (next_connection_id)
  CloneSpawner spawner_;
  std::unique_ptr<FdStore> fd_store_;  // systemd's: the jobs' pipes outlive grapped
  std::unique_ptr<JobScope> scope_;    // one cgroup per job, outside grapped.service
  std::string jobs_key_;               // the job list last written to jobs.json
  JobService jobs_;
  std::mutex mu_;  // the loop holds it between polls; migration threads take it for the job table
  std::unique_ptr<Migrator> mig_;
  NodeAdmin admin_;
  BalanceLoop balance_;  // the admin's recalls, run --node placements, the automatic balancer
  std::unique_ptr<AdminCommands> admin_cmds_;  // grappe node, grappe boot-server
  ProcessRunner runner_;
  std::unique_ptr<HomeShare> home_;  // when [home] share = true
  std::string home_degraded_;        // what the console was last told about /home
  std::unique_ptr<BootService> boot_;  // when [boot] serve = true
  ApiRouter router_;
  struct Sampled {
    std::vector<pid_t> pids;
    JobUsage use;
  };
  std::map<std::string, Sampled> usage_;  // jobs running here, at the last load sample
  std::map<std::string, double> cpu_peak_;  // the most CPU time each job here was seen to have used
  // daemon_dashboard.cc: the web dashboard, when [dashboard] port is set. Last: its HTTP threads
  // use the router and mu_, so it goes first.
  void start_dashboard();
  void feed_dashboard(double now);
  nlohmann::json dashboard_token(const Caller& who);
  double next_dash_ = 0;
  std::unique_ptr<DashboardHttp> dash_;
};

}  // namespace grappe
