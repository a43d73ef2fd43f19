// The balancing work of each turn of grapped's loop, as logic over a seam (BalanceWorld): for 2
// minutes after `grappe node expel|bring`, jobs whose handoff was already under way are sent on
// too; `grappe run --node N` jobs move once started; a peer's load falling brings the next round
// forward; and the automatic balancer's round (auto_balance.h) starts the moves it picks. The
// daemon supplies its job table and membership as plain views (unit tests: fakes).
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "balance/auto_balance.h"

namespace grappe {

// One entry of the job table, as the balancing work sees it.
struct BalanceJob {
  std::string id, home;  // home: the name of the node the job was started on
  bool running = false, remote = false, migrating = false, guest = false;
  bool busy = false;     // control messages for it are queued (its relay is at work)
  double started = 0;
  int place = 0;         // grappe run --node N, not acted on yet
};

class BalanceWorld {
 public:
  virtual ~BalanceWorld() = default;
  virtual std::vector<BalanceJob> jobs() const = 0;
  virtual std::string self_name() const = 0;
  virtual std::string unavailable() const = 0;  // why this node cannot migrate ("" = it can)
  virtual uint64_t load_drops() const = 0;       // peers' load drops seen so far (Membership)
  // Starts moving `job` to the node named `to`: "" when started, else why not.
  virtual std::string move(const std::string& job, const std::string& to, const std::string& reason) = 0;
  virtual std::optional<std::string> node_name(int number) const = 0;  // a live node's name
  virtual void place_done(const std::string& job) = 0;                  // its run --node is acted on
  virtual void tell(const std::string& job, const std::string& line) = 0;  // on the job's stderr
  virtual void log(const std::string& line) = 0;
  // For a round only (they sample /proc and the member table): this node, its peers, its jobs.
  virtual NodeView self_view() const = 0;
  virtual std::vector<NodeView> peer_views(double now) const = 0;
  virtual std::vector<LocalJob> local_jobs() const = 0;
};

class BalanceLoop {
 public:
  explicit BalanceLoop(AutoBalanceParams p = {}) : auto_(p) {}
  // `grappe node OP` was applied at `now`: expel and bring open their 2-minute windows (and forget
  // which jobs they sent), unblock and nolstay close them.
  void admin_op(const std::string& op, double now);
  void sent_on(const std::string& job) { recalled_.insert(job); }  // moved by the admin's command
  void step(double now, BalanceWorld& w);
  AutoBalancer& balancer() { return auto_; }
  const AutoBalancer& balancer() const { return auto_; }

 private:
  void recall(double now, BalanceWorld& w, const std::vector<BalanceJob>& jobs);
  int place(double now, BalanceWorld& w, const std::vector<BalanceJob>& jobs);  // returns moves from here in flight
  void round(double now, BalanceWorld& w, int outgoing);

  AutoBalancer auto_;
  double expel_until_ = 0, bring_until_ = 0, next_recall_ = 0;
  std::set<std::string> recalled_;  // jobs already sent on in the current windows
  uint64_t seen_drops_ = 0;         // peers' load drops already answered
};

}  // namespace grappe
