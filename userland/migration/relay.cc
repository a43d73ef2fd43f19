#include "migration/relay.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <thread>

#include "common/mono_clock.h"
#include "common/loop_timer.h"
#include "jobs/job_pid.h"

namespace grappe {
namespace {


// What the node running a moved job keeps of each stream it sent, to send again what its home
// lacks after a broken link or a restart on either side (relay.h): the last kRing bytes.
constexpr size_t kRing = 1 << 20;
constexpr size_t kFrame = 65536;

// Reads what is in `fd`; false (and fd closed) at EOF.
bool read_some(int& fd, std::string& data) {
  char buf[65536];
  ssize_t n = ::read(fd, buf, sizeof buf);
  data.clear();
  if (n > 0) data.assign(buf, static_cast<size_t>(n));
  if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) return true;
  ::close(fd);
  fd = -1;
  return false;
}

// What wakes a relay thread besides its link and pipes: an eventfd, registered as the job's
// relay_wake (jobs.h) while the thread runs (the destructor takes it back, under the lock, before
// closing it), and on the node running the job a pidfd that turns readable when the job exits
// (-1 without one: a kernel before 5.3).
class RelayWake {
 public:
  RelayWake(std::mutex& mu, JobTable& t, std::string id, pid_t job = -1)
      : mu_(mu), t_(t), id_(std::move(id)), fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
        exit_fd_(job > 0 ? static_cast<int>(::syscall(SYS_pidfd_open, job, 0)) : -1) {}  // glibc 2.36's wrapper lacks C linkage
  RelayWake(const RelayWake&) = delete;
  RelayWake& operator=(const RelayWake&) = delete;
  ~RelayWake() {
    if (exit_fd_ >= 0) ::close(exit_fd_);
    if (fd_ < 0) return;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (Job* j = t_.find(id_); j && j->relay_wake == fd_) j->relay_wake = -1;
    }
    ::close(fd_);
  }
  void attach(Job& j) const {  // with the lock held
    if (fd_ >= 0) j.relay_wake = fd_;
  }
  int fd() const { return fd_; }
  int exit_fd() const { return exit_fd_; }
  // An adopted job: the pidfd grapped opened and checked against its start time (job_pid.h).
  void take_exit_fd(int pidfd) {
    if (exit_fd_ >= 0) ::close(exit_fd_);
    exit_fd_ = pidfd;
  }
  void clear() const {
    eventfd_t v;
    if (fd_ >= 0) ::eventfd_read(fd_, &v);
  }

 private:
  std::mutex& mu_;
  JobTable& t_;
  std::string id_;
  int fd_, exit_fd_;
};

// A move for the guest to make, and who asked: a client here, or (via_home) one on the home node.
struct Order {
  MoveOrder m;
  bool via_home = false;
};

// The guest side: one job running here whose home is elsewhere.
class GuestRelay {
 public:
  GuestRelay(RelayEnv& env, std::string id) : env_(env), id_(std::move(id)) {}
  ~GuestRelay() {
    for (int fd : {in_, out_, err_})
      if (fd >= 0) ::close(fd);
  }
  bool take_job();  // false: no such job
  void run();

 private:
  bool connected();
  void wait_for_work();
  void pump_out(int& fd, int stream);
  void keep_sent(int stream, const std::string& data);
  std::string resume(const nlohmann::json& meta);
  bool exited();
  bool read_home(std::vector<Order>& orders);
  std::string take(const Frame& f, std::vector<Order>& orders);
  void feed_stdin();
  void take_local_orders(std::vector<Order>& orders);
  bool try_move(const Order& o);
  void answer(const Order& o, bool ok, const SourceResult& r);
  bool finished();
  void say(const std::string& s);

  RelayEnv& env_;
  std::string id_;
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1, epoch_ = 0;
  double gap_[3] = {0, 0, 0};  // [1] stdout, [2] stderr: between output frames (jobs.h)
  uint16_t home_number_ = 0;
  std::optional<RelayWake> wake_;
  std::unique_ptr<PollLink> link_;
  double next_try_ = 0, next_out_[3] = {0, 0, 0};
  std::string in_buf_;
  bool in_eof_ = false, reaped_ = false;
  int status_ = 0;
  // Adopted from jobs.json (its grapped restarted): not our child; its init writes its status.
  bool adopted_ = false;
  std::string status_file_;
  int last_signal_ = 0;
  // Per stream: bytes of this residence read from its pipe (-1: unknown until the home says how
  // many it has), the last of them (ring_, starting at byte ring_at_), and whether the home's
  // "resume" came on this link (no output is sent before it).
  int64_t read_[3] = {0, 0, 0}, ring_at_[3] = {0, 0, 0};
  std::string ring_[3];
  bool resumed_ = false;
};

void GuestRelay::say(const std::string& s) {
  std::lock_guard<std::mutex> l(*env_.mu);
  env_.log("job " + id_ + ": " + s);
}

bool GuestRelay::take_job() {
  std::lock_guard<std::mutex> l(*env_.mu);
  Job* j = env_.jobs->table().find(id_);
  if (!j) return false;
  wake_.emplace(*env_.mu, env_.jobs->table(), id_, j->adopted ? -1 : j->pid);
  if (j->adopted) wake_->take_exit_fd(std::exchange(j->pidfd, -1));  // -1: it ended while grapped was away
  pid_ = j->pid, in_ = j->in, out_ = j->out, err_ = j->err, epoch_ = j->migrations, home_number_ = j->home_number;
  adopted_ = j->adopted, status_file_ = j->status_file;
  if (adopted_) read_[1] = read_[2] = -1;  // what the last grapped sent is the home's to say
  gap_[1] = output_gap(*j, 1), gap_[2] = output_gap(*j, 2);
  j->in = j->out = j->err = -1;  // this thread owns them now
  wake_->attach(*j);
  return true;
}

// A link to the home node, or false after a pause (the job blocks on its full pipe meanwhile:
// no output is lost).
bool GuestRelay::connected() {
  if (link_ && !link_->broken()) return true;
  if (now_s() >= next_try_) {
    next_try_ = now_s() + 2;
    std::string e;
    link_ = env_.connect_home(home_number_, e);
    if (link_ && !link_->send({"relay", {{"id", id_}, {"epoch", epoch_}, {"off", {read_[1], read_[2]}}}, {}})) link_.reset();
    resumed_ = false;
    if (!link_) say("cannot reach its home node " + std::to_string(home_number_) + (e.empty() ? "" : ": " + e) + "; retrying");
  }
  if (link_ && !link_->broken()) return true;
  nap(200);
  return false;
}

// Output, frames from the home, the job's exit, local move requests (wake) and room in the job's
// stdin: waiting on them all keeps an idle relay from costing the job CPU time. At most one output
// frame per stream every gap, on the grid the home node reads on too (jobs.h): a job printing a
// line per loop iteration would otherwise cost a sealed frame (and a wake-up on both nodes) per
// line. A stream in its gap is left out of the poll until the gap ends.
void GuestRelay::wait_for_work() {
  const int exited = wake_->exit_fd();  // without it, the thread looks for the exit on the loops' grid
  double t = now_s(), wait = exited >= 0 ? 1.0 : next_grid_point(t, kLoopGrid) - t;
  for (int s : {1, 2})
    if (t < next_out_[s] && (s == 1 ? out_ : err_) >= 0) wait = std::min(wait, next_out_[s] - t);
  pollfd p[6] = {{resumed_ && t >= next_out_[1] ? out_ : -1, POLLIN, 0},
                 {resumed_ && t >= next_out_[2] ? err_ : -1, POLLIN, 0},
                 {link_->fd(), POLLIN, 0},
                 {wake_->fd(), POLLIN, 0},
                 {reaped_ ? -1 : exited, POLLIN, 0},
                 {in_ >= 0 && !in_buf_.empty() ? in_ : -1, POLLOUT, 0}};
  ::poll(p, 6, static_cast<int>(wait * 1000) + 1);
  if (p[3].revents) wake_->clear();
  t = now_s();
  for (int s : {1, 2})
    if (int& fd = s == 1 ? out_ : err_; resumed_ && t >= next_out_[s] && fd >= 0 && p[s - 1].revents) {
      pump_out(fd, s);
      next_out_[s] = next_output_slot(t, gap_[s]);
    }
}

// Output read from a pipe is kept (keep_sent) before it is sent: if the link breaks, the home's
// "resume" on the next link says what it lacks.
void GuestRelay::pump_out(int& fd, int stream) {
  std::string data;
  while (fd >= 0 && read_some(fd, data) && !data.empty()) {
    keep_sent(stream, data);
    if (!link_ || !link_->send({"out", {{"fd", stream}}, data})) return;
  }
}

void GuestRelay::keep_sent(int stream, const std::string& data) {
  std::string& r = ring_[stream];
  r += data;
  read_[stream] += static_cast<int64_t>(data.size());
  if (r.size() > kRing) {
    const size_t drop = r.size() - kRing;
    r.erase(0, drop);
    ring_at_[stream] += static_cast<int64_t>(drop);
  }
}

// The home's "resume": how much of each stream of this residence it has. What it lacks is sent
// again from the ring; "" or why the frame is malformed.
std::string GuestRelay::resume(const nlohmann::json& meta) {
  int64_t has[3];
  std::string why;
  if (!parse_resume(meta, has, why)) return why;
  for (int s : {1, 2}) {
    if (has[s] < 0) {  // the home does not know (restarted, no caller back): go on from here
      if (read_[s] < 0) read_[s] = ring_at_[s] = 0;
      continue;
    }
    if (read_[s] < 0) {  // we do not know (restarted here): the home's count is the truth
      read_[s] = ring_at_[s] = has[s];
      continue;
    }
    if (has[s] > read_[s]) {
      say("its home has more of stream " + std::to_string(s) + " than was sent (" + std::to_string(has[s]) + " > " +
          std::to_string(read_[s]) + " bytes); going on");
      continue;
    }
    int64_t from = has[s];
    if (from < ring_at_[s]) {
      say(std::to_string(ring_at_[s] - from) + " bytes of stream " + std::to_string(s) + " were lost with a link (more than " +
          std::to_string(kRing) + " in flight)");
      from = ring_at_[s];
    }
    const std::string& r = ring_[s];
    for (size_t at = static_cast<size_t>(from - ring_at_[s]); at < r.size(); at += kFrame)
      if (!link_->send({"out", {{"fd", s}}, r.substr(at, kFrame)})) return "";  // broke again: the next resume says
  }
  resumed_ = true;
  return "";
}

// Frames from the home node; false when one was malformed (the caller drops the link).
bool GuestRelay::read_home(std::vector<Order>& orders) {
  while (link_->readable(0)) {
    auto f = link_->recv(30);
    if (!f) break;
    if (std::string why = take(*f, orders); !why.empty()) {
      say("malformed '" + f->kind + "' frame from its home node (" + why + "); reconnecting");
      return false;
    }
  }
  return true;
}

// One frame from the home node: "" or why it is malformed.
std::string GuestRelay::take(const Frame& f, std::vector<Order>& orders) {
  std::string why;
  if (f.kind == "resume") {
    why = resume(f.meta);
  } else if (f.kind == "stdin") {
    in_buf_ += f.data;
  } else if (f.kind == "eof") {
    in_eof_ = true;
  } else if (f.kind == "signal") {
    int sig = 0;
    if (parse_signal(f.meta, sig, why)) last_signal_ = sig, signal_process(wake_->exit_fd(), pid_, sig);
  } else if (f.kind == "migrate") {
    Order o{{}, true};
    if (parse_move_order(f.meta, "requested by the home node", o.m, why)) orders.push_back(std::move(o));
  } else if (f.kind == "unknown") {  // the home node has no record of the job any more
    say("its home node has no record of it (it ended there, or its record was lost); ending it");
    last_signal_ = SIGKILL;
    signal_process(wake_->exit_fd(), pid_, SIGKILL);
  }
  return why;
}

void GuestRelay::feed_stdin() {
  if (in_ >= 0 && !in_buf_.empty()) {
    ssize_t n = ::write(in_, in_buf_.data(), in_buf_.size());
    if (n > 0) in_buf_.erase(0, static_cast<size_t>(n));
    else if (n < 0 && errno != EAGAIN) in_buf_.clear(), in_eof_ = true;
  }
  if (in_ >= 0 && in_eof_ && in_buf_.empty()) {
    {
      std::lock_guard<std::mutex> l(*env_.mu);
      if (Job* j = env_.jobs->table().find(id_)) env_.jobs->drop_fd(*j, "in");  // the keeper's copy too, or no EOF
    }
    ::close(in_), in_ = -1;
  }
}

void GuestRelay::take_local_orders(std::vector<Order>& orders) {
  std::lock_guard<std::mutex> l(*env_.mu);
  Job* j = env_.jobs->table().find(id_);
  if (!j) return;
  for (auto& c : std::exchange(j->ctl_q, {})) {
    Order o;
    std::string why;
    if (parse_move_order(c, "", o.m, why)) orders.push_back(std::move(o));
    else env_.log("job " + id_ + ": dropping a malformed move request: " + why);
  }
}

// The answer to whoever asked for a move: over the relay when the home node asked.
void GuestRelay::answer(const Order& o, bool ok, const SourceResult& r) {
  nlohmann::json rep = handoff_reply(id_, ok ? o.m.to : env_.jobs->node_name(), ok, r);
  if (o.via_home) {
    rep["client"] = o.m.client;
    if (link_) link_->send({"migrated", rep, {}});
  } else if (o.m.client >= 0) {
    std::lock_guard<std::mutex> l(*env_.mu);
    env_.reply(o.m.client, rep);
  }
}

// Moves the job on; true when it left (this thread is then done).
bool GuestRelay::try_move(const Order& o) {
  GuestMove g = env_.move(id_, pid_, o.m);
  if (!g.started) return answer(o, false, g.r), false;
  const SourceResult& r = g.r;
  say(r.outcome == SourceOutcome::Stayed ? "stays here: " + r.why
                                         : "moved to " + o.m.to + " (" + o.m.reason + ", " + handoff_summary(r) + ")");
  if (r.outcome == SourceOutcome::Stayed) return answer(o, false, r), false;
  // The copy here is gone: the rest of its output, then the relay hands over to the next node.
  for (double until = now_s() + 30; (out_ >= 0 || err_ >= 0) && now_s() < until;) {
    pump_out(out_, 1);
    pump_out(err_, 2);
    if (out_ >= 0 || err_ >= 0) nap(10);
  }
  if (!adopted_) ::waitpid(pid_, nullptr, 0);
  else
    for (double until = now_s() + 10; !exited() && now_s() < until;) nap(20);
  answer(o, true, r);
  link_->send({"moved", {{"to", o.m.to}, {"epoch", g.epoch}, {"why", o.m.reason}}, {}});
  return true;
}

// Once the job is reaped and its output is all sent: the exit status goes home. True when done.
// Has the job's init exited? Our child: waitpid. Adopted: its pidfd, and the status its init wrote
// (none after a SIGKILL: 128+9, what a parent would see).
bool GuestRelay::exited() {
  if (!adopted_) {
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) != pid_) return false;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return true;
  }
  if (wake_->exit_fd() >= 0 && !pidfd_exited(wake_->exit_fd())) return false;
  status_ = read_exit_status(status_file_);
  if (status_ < 0) status_ = last_signal_ ? 128 + last_signal_ : 255;
  return true;
}

bool GuestRelay::finished() {
  if (!reaped_) reaped_ = exited();
  if (!reaped_ || out_ >= 0 || err_ >= 0 || !resumed_) return false;
  if (!link_->send({"exit", {{"status", status_}}, {}})) return false;  // the next link's resume, then the status again
  link_->readable(5);  // let the home read it
  std::lock_guard<std::mutex> l(*env_.mu);
  if (Job* j = env_.jobs->table().find(id_)) {
    env_.jobs->release(*j);
    j->exit_code = status_;
    j->state = JobState::Exited;
    j->ended = now_s();
  }
  env_.log("job " + id_ + " ended with status " + std::to_string(status_) + " (output relayed home)");
  return true;
}

void GuestRelay::run() {
  for (;;) {
    if (!connected()) continue;
    wait_for_work();
    std::vector<Order> orders;
    if (!read_home(orders)) {
      link_.reset();  // reconnects; the home node waits for it
      continue;
    }
    feed_stdin();
    take_local_orders(orders);
    for (const auto& o : orders)
      if (try_move(o)) {
        std::lock_guard<std::mutex> l(*env_.mu);
        if (Job* j = env_.jobs->table().find(id_)) env_.jobs->release(*j);
        env_.jobs->table().erase(id_);
        return;
      }
    if (finished()) return;
  }
}

// The home side of one relay connection.
class HomeRelay {
 public:
  HomeRelay(RelayEnv& env, PollLink& link, std::string id, int epoch)
      : env_(env), link_(link), id_(std::move(id)), epoch_(epoch), wake_(*env.mu, env.jobs->table(), id_) {}
  bool wait_turn();
  void run();

 private:
  bool forward_requests(bool& congested);
  enum class Next { More, Done, Malformed };
  Next take(const Frame& f, std::string& why);

  RelayEnv& env_;
  PollLink& link_;
  std::string id_;
  int epoch_;
  RelayWake wake_;
  bool eof_sent_ = false;
};

// Earlier residences' output first, and, after a restart of grapped here, the caller back (or
// its minute over): false (and the peer told "unknown") when this residence's turn will never
// come. Then the peer is told how much of each stream of this residence the home has.
bool HomeRelay::wait_turn() {
  for (;;) {
    int64_t has[3] = {0, -1, -1};
    bool ready = false;
    {
      std::lock_guard<std::mutex> l(*env_.mu);
      Job* j = env_.jobs->table().find(id_);
      if (!j || j->state != JobState::Running || j->out_epoch > epoch_) {
        link_.send({"unknown", {}, {}});
        return false;
      }
      if (j->out_epoch == epoch_ && !j->awaiting_caller) {
        wake_.attach(*j);
        ready = true;
        for (int s : {1, 2})
          if (j->sent_known) has[s] = j->sent[s] > j->epoch_base[s] ? static_cast<int64_t>(j->sent[s] - j->epoch_base[s]) : 0;
      }
    }
    if (ready) return link_.send({"resume", {{"off", {has[1], has[2]}}}, {}});
    nap(20);
  }
}

// Stdin, signals and moves queued here for the current residence go out; `congested` while the
// caller watching the output cannot take more (then nothing is read from the peer). False when
// the job is gone or has ended.
bool HomeRelay::forward_requests(bool& congested) {
  std::string in;
  std::vector<int> sigs;
  std::vector<nlohmann::json> ctls;
  bool eof = false;
  {
    std::lock_guard<std::mutex> l(*env_.mu);
    Job* j = env_.jobs->table().find(id_);
    if (!j || j->state != JobState::Running) return false;
    if (j->remote && j->migrations == epoch_) {  // requests are for the current residence only
      size_t n = std::min<size_t>(j->in_q.size(), 65536);
      in = j->in_q.substr(0, n);
      j->in_q.erase(0, n);
      sigs = std::exchange(j->sig_q, {});
      ctls = std::exchange(j->ctl_q, {});
      eof = j->in_eof && j->in_q.empty() && !eof_sent_;
    }
    congested = env_.jobs->watcher_congested(*j);
  }
  if (!in.empty()) link_.send({"stdin", {}, in});
  if (eof) eof_sent_ = link_.send({"eof", {}, {}});
  for (int s : sigs) link_.send({"signal", {{"sig", s}}, {}});
  for (const auto& c : ctls) link_.send({"migrate", c, {}});
  return true;
}

// One frame from the node running the job (lock held).
HomeRelay::Next HomeRelay::take(const Frame& f, std::string& why) {
  Job* j = env_.jobs->table().find(id_);
  if (!j) return Next::Done;
  if (f.kind == "out") {
    int stream = 1;
    if (!parse_out(f.meta, stream, why)) return Next::Malformed;
    env_.jobs->deliver(*j, stream, f.data);
  } else if (f.kind == "exit") {
    int status = 255;
    if (!parse_exit(f.meta, status, why)) return Next::Malformed;
    env_.jobs->end(*j, status, now_s());
    return Next::Done;
  } else if (f.kind == "moved") {
    MovedNote m;
    if (!parse_moved(f.meta, epoch_ + 1, m, why)) return Next::Malformed;
    next_out_epoch(*j, epoch_ + 1);
    if (j->remote) j->node = m.to, j->migrations = std::max(j->migrations, m.epoch);
    j->moved = "to " + m.to + " (" + m.why + ")";
    return Next::Done;
  } else if (f.kind == "migrated") {
    int client = -1;
    if (!parse_migrated(f.meta, client, why)) return Next::Malformed;
    nlohmann::json rep = f.meta;
    rep.erase("client");
    if (client >= 0) env_.reply(client, rep);
  }
  return Next::More;
}

void HomeRelay::run() {
  for (;;) {
    bool congested = false;
    if (!forward_requests(congested)) return;
    if (congested) {
      nap(10);
      continue;
    }
    // Frames from the node running the job, or stdin, signals and moves queued here (wake_relay);
    // without an eventfd, what is queued here waits at most 200 ms.
    pollfd p[2] = {{link_.fd(), POLLIN, 0}, {wake_.fd(), POLLIN, 0}};
    ::poll(p, wake_.fd() >= 0 ? 2 : 1, wake_.fd() >= 0 ? 1000 : 200);
    if (wake_.fd() >= 0 && p[1].revents) wake_.clear();
    if (!p[0].revents) {
      if (link_.broken()) break;
      continue;
    }
    auto f = link_.recv(60);
    if (!f) break;
    std::string why;
    std::lock_guard<std::mutex> l(*env_.mu);
    switch (take(*f, why)) {
      case Next::More: continue;
      case Next::Done: return;
      case Next::Malformed:
        env_.log("job " + id_ + ": malformed '" + f->kind + "' frame from its node (" + why + "); closing the relay");
        return;
    }
  }
  std::lock_guard<std::mutex> l(*env_.mu);
  env_.log("job " + id_ + ": relay from its node broke; waiting for it to reconnect");
}

}  // namespace

void Relay::guest(const std::string& id) {
  GuestRelay g(env_, id);
  if (g.take_job()) g.run();
}

void Relay::home(std::unique_ptr<PollLink> link, const Frame& first) {
  RelayHello h;
  std::string why;
  if (!parse_relay_hello(first.meta, h, why)) {
    std::lock_guard<std::mutex> l(*env_.mu);
    env_.log("relay refused: " + why);
    return;
  }
  HomeRelay r(env_, *link, h.id, h.epoch);
  if (r.wait_turn()) r.run();
}

}  // namespace grappe
