// The jobs this node knows: the ones it started (their home) and, later, guests migrated in.
// Pure bookkeeping: ids, states, who may act on a job, and the `grappe ps` view. The daemon does
// the I/O (pipes, waitpid, clients; wake_relay only pokes a relay thread's eventfd); job_inspect
// reads what a job holds from /proc.
#pragma once
#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/loop_timer.h"

namespace grappe {

enum class JobState { Running, Exited };
const char* job_state_name(JobState s);

struct Job {
  std::string id;  // cluster-wide: "<home node number>.<sequence>"
  std::vector<std::string> argv;
  uid_t uid = 0;
  std::string user;
  std::string home, node;  // node names: where it started, where it runs
  JobState state = JobState::Running;
  pid_t pid = -1;  // the namespace init (grappe-job-init) on this node
  int pidfd = -1;  // the same process, for signals (job_pid.h); -1 once it is gone
  uint64_t start_ticks = 0;  // its start time: tells it from a later process with the same pid
  std::string status_file;   // where grappe-job-init writes the exit status (job_pid.h)
  bool adopted = false;      // started by an earlier grapped: not our child, no waitpid
  int last_signal = 0;       // the last signal sent to it (an adopted job killed by SIGKILL writes no status)
  // Adopted while its caller was attached: until the caller reattaches, or reattach_until passes,
  // its output stays in the pipes (the job blocks on a full one) and its stdin stays open.
  bool awaiting_caller = false;
  double reattach_until = 0;
  uint64_t sent[3] = {0, 0, 0};  // [1], [2]: bytes of that stream delivered to callers so far
  // Home: `sent` when the residence now delivered (out_epoch) began, so sent - epoch_base is how
  // much of its output the home has (relay.h). Written down; `sent_known` is false after a
  // restart of grapped until the caller reattaches and says how much it has.
  uint64_t epoch_base[3] = {0, 0, 0};
  bool sent_known = true;
  int in = -1, out = -1, err = -1;
  int exit_code = -1;  // once exited: 0-255, 128+N for signal N
  double started = 0, ended = 0;
  double arrived = 0;  // when it began running on this node (the balancer's residency)
  int place = 0;       // grappe run --node N: the node to move it to once it has started
  int migrations = 0;
  double work_before = 0;  // work done on earlier residences, reference CPU-seconds (from the offer)
  bool stay = false;
  int watcher = -1;  // API client streaming this job's output, -1 if none
  std::string in_q;  // stdin from the caller not yet taken by the job
  bool in_eof = false;
  bool reaped = false;
  // Migration (migrator.h). `migrations` numbers the job's residences: 0 at home, then one more
  // per move. The home delivers all output of residence e before any of e+1.
  bool remote = false;     // home's record of a job now running on another node
  bool guest = false;      // runs here, home elsewhere: its relay thread drives it
  bool migrating = false;  // a handoff is under way
  int out_epoch = 0;       // home: the residence whose output is delivered now
  int local_epoch = 0;     // the residence the local pipes belong to; -1: no local pipes
  uint16_t home_number = 0;
  std::vector<int> sig_q;               // home: signals for the remote copy
  std::vector<nlohmann::json> ctl_q;    // home: requests for the remote copy (migrate)
  std::string moved;                    // why it last moved, for ps
  // The eventfd of the relay thread driving a moved job (home_relay on the home, guest on the node
  // running it), -1 if none: whoever queues stdin, a signal or a move for that thread pokes it
  // (wake_relay), so the thread sleeps until there is something to do, not in 200 ms naps.
  int relay_wake = -1;
  // Output coalescing: each pipe is read at most once per output_gap(), so a job printing a
  // line per loop iteration costs a wake-up (and, moved, a sealed frame on both nodes) per gap,
  // not per line. A stream whose caller has a terminal gets its output within 50 ms; one going
  // to a file, a pipe or nobody (-d) within 250 ms, the way stdio buffers fully when its output
  // is not a terminal. Reads fall on a shared grid (next_output_slot), so a node's chatty jobs
  // are read together: one wake-up per gap, not one per job.
  bool tty[3] = {false, false, false};  // [1] stdout, [2] stderr: the caller's is a terminal
  double quiet_until[3] = {0, 0, 0};    // [1], [2]: that pipe is not read before this
  int& pipe(int stream) { return stream == 1 ? out : err; }  // 1: stdout, 2: stderr
  int pipe(int stream) const { return stream == 1 ? out : err; }
};

// Wakes the job's relay thread, if it has one (relay_wake).
void wake_relay(const Job& j);
// Home: the next residence's output is delivered from now on (the current one's is all in).
inline void next_out_epoch(Job& j, int epoch) {
  j.out_epoch = epoch;
  for (int s : {1, 2}) j.epoch_base[s] = j.sent[s];
}

inline double output_gap(const Job& j, int stream) { return j.tty[stream] ? 0.05 : 0.25; }
// The first multiple of `gap` after `now`: where the next read of a stream drained at `now` goes.
inline double next_output_slot(double now, double gap) { return next_grid_point(now, gap); }

class JobTable {
 public:
  // Sequence numbers continue from `next_seq` (persisted by the daemon) so ids never repeat.
  explicit JobTable(uint64_t next_seq = 1) : seq_(next_seq) {}
  std::string new_id(uint16_t node_number) { return std::to_string(node_number) + "." + std::to_string(seq_++); }
  uint64_t next_seq() const { return seq_; }
  Job& add(Job j);
  Job* find(const std::string& id);
  void erase(const std::string& id) { jobs_.erase(id); }
  size_t running() const;
  size_t running_here() const;  // running on this node: not the home's records of moved jobs
  std::map<std::string, Job>& all() { return jobs_; }
  const std::map<std::string, Job>& all() const { return jobs_; }
  // May `uid` signal, migrate or see this job? Its owner and root may.
  static bool may_act(const Job& j, uid_t uid) { return uid == 0 || uid == j.uid; }

 private:
  uint64_t seq_;
  std::map<std::string, Job> jobs_;
};

}  // namespace grappe
