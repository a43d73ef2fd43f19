// grapped's side of migration: the peer TCP listener (one thread per connection: an offer, a
// relay or a resolve), `grappe migrate`, the admission check, the handoff threads out and in,
// adoption of a restored job, and resolution of a handoff cut at its last step. The output relay
// of a moved job is relay.h's; the handoff protocol is handoff.h's.
//
// Threads take the daemon's lock (env.mu) only to read or change the job table, never across I/O.
// Whatever a peer sends is type-checked (peer_meta.h); a malformed frame ends its link, never the
// daemon, and each thread catches what it did not expect at its top.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "migration/handshake_gate.h"
#include "jobs/job_service.h"
#include "membership/key_ring.h"
#include "migration/handoff.h"
#include "common/mono_clock.h"
#include "migration/lost_watch.h"
#include "migration/peer_link.h"
#include "migration/peer_meta.h"
#include "migration/relay.h"

namespace grappe {

struct PeerAddr {
  uint32_t ip = 0;  // network order
  uint16_t port = 0;
  std::string name;
  uint16_t number = 0;
  bool self = false;
};

struct MigratorEnv {
  std::mutex* mu = nullptr;
  JobService* jobs = nullptr;
  std::shared_ptr<KeyRing> keys;  // the operating key(s): connect with the current, accept any held
  NodeId self{};
  std::string work_dir;  // images in flight: <work_dir>/<job>-in|out (image_dir.h)
  std::string proc = "/proc";
  uint64_t precopy_min_kb = 32 << 10;  // jobs this big move with pre-copy unless told otherwise (0: never)
  // The rest are called with the lock held.
  std::function<std::optional<PeerAddr>(const std::string& node)> resolve;  // name, number; live only
  std::function<bool(const std::string& name)> alive;                       // not declared dead
  std::function<void(int client, const nlohmann::json& reply)> reply;        // answer a waiting client
  std::function<void(const std::string&)> log;
  std::function<double()> speed;  // this node's speed figure, for the offer's work_s (unset: 1000)
  // Moves a restored job's processes into a scope of their own (jobs/job_scope.h); "" or why not.
  std::function<std::string(const std::string& scope_id, const std::vector<pid_t>& pids)> place;
  // Extra admission rules for an incoming offer (admin flags, limits): "" = welcome.
  std::function<std::string(const nlohmann::json& offer)> admit;
  // A job left this node: how long it was frozen and how many image bytes crossed (for the
  // balancer's cost model).
  std::function<void(double freeze_s, uint64_t bytes)> moved_out;
  // Every handoff of a job out of this node, moved or not: {"job", "from", "to", "moved",
  // "freeze_s", "why"} (the dashboard's migration monitor).
  std::function<void(const nlohmann::json& move)> migrated;
  // `grappe admit|deny` forwarded by another member to this node, which serves network boot
  // (migrator_admit.cc): {"mac", "admit", "by"} in, the reply for that member's client out. Called
  // without the lock.
  std::function<nlohmann::json(const std::string& mac, bool admit, const std::string& by)> admission;
  // A rekey from another member (migrator_rekey.cc): the next epoch's key, whether the old one
  // keeps a grace period, and the cluster's forgotten nodes with the list's version (the newest
  // list wins). "" when taken, else why not. Called without the lock.
  std::function<std::string(const KeyEpoch& next, bool grace, const ForgottenList& list)> rekeyed;
  // A rekey abandoned by the member that started it: drop the staged key of that epoch if it is
  // the one with this fingerprint. Without the lock.
  std::function<void(uint32_t epoch, const std::string& fingerprint)> abandoned;
  // A member's forgotten list, shared with this node when it joined. Without the lock.
  std::function<void(const ForgottenList& list)> forgotten_shared;
  // A node root forgot (`grappe node forget`): its links are refused, even under a key still in
  // its grace. Called without the lock.
  std::function<bool(const NodeId& id)> forgotten;
};

// One member's answer to a rekey.
struct RekeyOutcome {
  std::string node;
  std::string error;     // "" when it took the key
  bool refused = false;  // it answered no (another rekey under way), rather than not answering
};

class Migrator {
 public:
  using CheckpointerFactory = std::function<std::unique_ptr<Checkpointer>(std::string& why)>;
  // `make` (a `criu check`: seconds under emulation) runs on its own thread; until it answers,
  // migrations are refused with "still checking".
  Migrator(MigratorEnv env, CheckpointerFactory make);
  ~Migrator();
  // Listens on TCP `port` (every address). Throws with the reason when it cannot.
  void listen(uint16_t port);
  int listen_fd() const { return listen_fd_; }
  nlohmann::json handshakes() const { return gate_.stats(); }  // for grappe status
  void accept_ready();  // after poll() says the listener is readable; lock held or not
  // The API's migrate command (lock held). Returns the reply, or null when the answer will come
  // later through env.reply to `who.client`.
  nlohmann::json request(const nlohmann::json& req, const Caller& who);
  // Starts moving a job this node runs (lock held); `client` < 0: nobody waits for the answer.
  // `precopy`: 1 with pre-dumps, 0 without, -1 by the job's size (precopy_min_kb).
  // Returns "" when started, else why not.
  std::string move(const std::string& id, const std::string& to, int client, const std::string& reason,
                   int precopy = -1);
  // Once per loop (lock held): remote jobs whose node has been dead for LostWatch's grace are
  // lost; say so and end them.
  void tick(double now);
  // After a restart of grapped: a relay thread for each guest the job table adopted (relay.h).
  void resume_guests();
  const std::string& unavailable() const { return criu_why_; }  // "" when CRIU works here (lock held)
  size_t in_flight() const { return in_flight_.load(); }
  // `grappe admit|deny MAC` on a node that does not serve network boot: sends the answer to
  // `server` (name or number) over an authenticated link, and replies to `client` when it answers
  // (or within 15 s, with why not). Lock held.
  void forward_admission(const std::string& server, const std::string& mac, bool admit, const std::string& by, int client);
  // Hands `next` and the forgotten list to each of `to` (names or numbers) over its own link, at
  // most 4 at a time; then, without the lock, `done` with each member's outcome. Lock held.
  void rekey(const std::vector<std::string>& to, const KeyEpoch& next, bool grace, const ForgottenList& list,
             std::function<void(std::vector<RekeyOutcome>)> done);
  // Tells each of `to` that the rekey to `next` is abandoned, so they drop it now. Lock held.
  void abandon_rekey(const std::vector<std::string>& to, const KeyEpoch& next);
  // Tells member `to` which nodes are forgotten (a member that joined after they were); `done`
  // (without the lock) says whether it got there. Lock held.
  void share_forgotten(const std::string& to, const ForgottenList& list, std::function<void(bool)> done);

 private:
  void serve(int fd, const std::string& source);  // thread: one accepted connection
  void incoming(std::unique_ptr<TcpPeerLink> link, Frame offer);
  TargetResult receive(PeerLink& link, const std::string& dir);
  GuestMove move_guest(const std::string& id, pid_t pid, const MoveOrder& m);  // Relay's env.move
  void finish_local_move(const std::string& id, const MoveOrder& m, int epoch, const SourceResult& r);  // lock held
  void answer_resolve(TcpPeerLink& link, const Frame& f);
  void answer_admission(TcpPeerLink& link, const Frame& f);
  void answer_rekey(TcpPeerLink& link, const Frame& f);
  void answer_forgotten(const Frame& f);
  void answer_abandoned(const Frame& f);
  void resolve_pending(TargetResult r, const Offer& o);
  std::optional<bool> ask_source(const Offer& o);
  void adopt(const TargetResult& r, const Offer& o);  // a restored job now runs here
  std::string fits(const Offer& o, const nlohmann::json& offer);  // lock held
  // Builds the offer for the job here (lock held); empty with `why` when it cannot move.
  nlohmann::json offer_for(Job& j, std::string& why, int precopy);
  SourceResult handoff_out(const std::string& id, pid_t pid, const std::string& to, const nlohmann::json& offer);
  void record(const std::string& id, int epoch, bool moved);
  void spawn(std::function<void()> fn);
  RelayEnv relay_env();

  MigratorEnv env_;
  std::unique_ptr<Checkpointer> criu_;
  std::string criu_why_;
  int listen_fd_ = -1;
  std::atomic<size_t> in_flight_{0};
  std::atomic<size_t> threads_{0};
  HandshakeGate gate_;  // connections not yet authenticated, per source address
  std::mutex out_mu_;
  std::map<std::string, bool> outcomes_;  // "<job>@<epoch>" -> did the source end its copy
  LostWatch lost_;
  // A job adopted after a restart is not lost with its node until membership had time to see that
  // node again.
  static constexpr double kRediscover = 30;
  double started_ = now_s();
  Relay relay_;
};

}  // namespace grappe
