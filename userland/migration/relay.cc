// The output relay of a migrated job (Migrator::guest on the node running it, Migrator::home_relay
// on its home node): see migrator.h for the protocol and the ordering rule.
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <thread>

#include "common/loop_timer.h"
#include "migration/migrator.h"

namespace grappe {
namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
void nap(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

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

// A move request's pre-copy choice: 1, 0, or -1 (by the job's size).
int precopy_of(const nlohmann::json& m) {
  auto it = m.find("precopy");
  return it != m.end() && it->is_number_integer() && it->get<int>() >= -1 && it->get<int>() <= 1 ? it->get<int>() : -1;
}

}  // namespace

void Migrator::guest(std::string id) {
  pid_t pid;
  int in, out, err, epoch;
  double gap[3];  // [1] stdout, [2] stderr: between output frames (jobs.h; a pipe holds 64 KiB meanwhile)
  uint16_t home_number;
  std::optional<RelayWake> wake;
  {
    std::lock_guard<std::mutex> l(*env_.mu);
    Job* j = env_.jobs->table().find(id);
    if (!j) return;
    wake.emplace(*env_.mu, env_.jobs->table(), id, j->pid);
    pid = j->pid, in = j->in, out = j->out, err = j->err, epoch = j->migrations, home_number = j->home_number;
    gap[1] = output_gap(*j, 1), gap[2] = output_gap(*j, 2);
    j->in = j->out = j->err = -1;  // this thread owns them now
    wake->attach(*j);
  }
  const int exited = wake->exit_fd();  // without it, the thread looks for the exit on the loops' grid
  std::unique_ptr<TcpPeerLink> link;
  double next_try = 0, next_out[3] = {0, 0, 0};
  std::string in_buf;
  bool in_eof = false, reaped = false;
  int status = 0;
  auto say = [&](const std::string& s) {
    std::lock_guard<std::mutex> l(*env_.mu);
    env_.log("job " + id + ": " + s);
  };
  auto pump_out = [&](int& fd, int stream) {
    std::string data;
    while (fd >= 0 && read_some(fd, data) && !data.empty())
      if (!link->send({"out", {{"fd", stream}}, data})) return;
  };
  // The answer to whoever asked for a move: over the relay when the home node asked.
  auto answer = [&](const Move& m, bool ok, const std::string& why, const SourceResult* r = nullptr) {
    SourceResult none;
    none.why = why;
    nlohmann::json rep = handoff_reply(id, ok ? m.to : env_.jobs->node_name(), ok, r ? *r : none);
    if (m.via_home) {
      rep["client"] = m.home_client;
      if (link) link->send({"migrated", rep, {}});
    } else if (m.client >= 0) {
      std::lock_guard<std::mutex> l(*env_.mu);
      env_.reply(m.client, rep);
    }
  };
  // Moves the job on; true when it left (this thread is then done).
  auto do_move = [&](const Move& m) -> bool {
    std::string why;
    nlohmann::json offer;
    {
      std::lock_guard<std::mutex> l(*env_.mu);
      Job* j = env_.jobs->table().find(id);
      if (j) offer = offer_for(*j, why, m.precopy);
      if (j && why.empty()) j->migrating = true;
    }
    if (!why.empty()) return answer(m, false, why), false;
    SourceResult r = handoff_out(id, pid, m.to, offer);
    {
      std::lock_guard<std::mutex> l(*env_.mu);
      if (Job* j = env_.jobs->table().find(id)) j->migrating = false;
    }
    say(r.outcome == SourceOutcome::Stayed ? "stays here: " + r.why
                                           : "moved to " + m.to + " (" + m.reason + ", " + handoff_summary(r) + ")");
    if (r.outcome == SourceOutcome::Stayed) return answer(m, false, r.why, &r), false;
    // The copy here is gone: the rest of its output, then the relay hands over to the next node.
    for (double until = now_s() + 30; (out >= 0 || err >= 0) && now_s() < until;) {
      pump_out(out, 1);
      pump_out(err, 2);
      if (out >= 0 || err >= 0) nap(10);
    }
    ::waitpid(pid, nullptr, 0);
    answer(m, true, "", &r);
    link->send({"moved", {{"to", m.to}, {"epoch", offer.value("epoch", epoch + 1)}, {"why", m.reason}}, {}});
    return true;
  };

  for (;;) {
    if (!link || link->broken()) {
      if (now_s() >= next_try) {
        next_try = now_s() + 2;
        std::optional<PeerAddr> a;
        {
          std::lock_guard<std::mutex> l(*env_.mu);
          a = env_.resolve(std::to_string(home_number));
        }
        std::string e;
        link = a ? TcpPeerLink::connect(a->ip, a->port, env_.key, env_.self, 10, e) : nullptr;
        if (link && !link->send({"relay", {{"id", id}, {"epoch", epoch}}, {}})) link.reset();
        if (!link) say("cannot reach its home node " + std::to_string(home_number) + (e.empty() ? "" : ": " + e) + "; retrying");
      }
      if (!link) {
        nap(200);  // the job blocks on its full pipe meanwhile: no output is lost
        continue;
      }
    }
    // Output, frames from the home, the job's exit, local move requests (wake) and room in the
    // job's stdin: waiting on them all keeps an idle relay from costing the job CPU time. At most
    // one output frame per stream every gap, on the grid the home node reads on too (jobs.h): a
    // job printing a line per loop iteration would otherwise cost a sealed frame (and a wake-up
    // on both nodes) per line. A stream in its gap is left out of the poll until the gap ends.
    double t = now_s(), wait = exited >= 0 ? 1.0 : next_grid_point(t, kLoopGrid) - t;
    for (int s : {1, 2})
      if (t < next_out[s] && (s == 1 ? out : err) >= 0) wait = std::min(wait, next_out[s] - t);
    pollfd p[6] = {{t >= next_out[1] ? out : -1, POLLIN, 0},
                   {t >= next_out[2] ? err : -1, POLLIN, 0},
                   {link->fd(), POLLIN, 0},
                   {wake->fd(), POLLIN, 0},
                   {reaped ? -1 : exited, POLLIN, 0},
                   {in >= 0 && !in_buf.empty() ? in : -1, POLLOUT, 0}};
    ::poll(p, 6, static_cast<int>(wait * 1000) + 1);
    if (p[3].revents) wake->clear();
    t = now_s();
    for (int s : {1, 2})
      if (int& fd = s == 1 ? out : err; t >= next_out[s] && fd >= 0 && p[s - 1].revents) {
        pump_out(fd, s);
        next_out[s] = next_output_slot(t, gap[s]);
      }
    std::vector<Move> moves;
    while (link->readable(0)) {
      auto f = link->recv(30);
      if (!f) break;
      if (f->kind == "stdin") in_buf += f->data;
      else if (f->kind == "eof") in_eof = true;
      else if (f->kind == "signal") ::kill(pid, f->meta.value("sig", SIGTERM));
      else if (f->kind == "migrate")
        moves.push_back({f->meta.value("to", std::string()), -1, true, f->meta.value("client", -1),
                         f->meta.value("reason", std::string("requested by the home node")), precopy_of(f->meta)});
      else if (f->kind == "unknown") {  // the home node has no record of the job any more
        say("its home node forgot it (grapped restarted there); ending it");
        ::kill(pid, SIGKILL);
      }
    }
    if (in >= 0 && !in_buf.empty()) {
      ssize_t n = ::write(in, in_buf.data(), in_buf.size());
      if (n > 0) in_buf.erase(0, static_cast<size_t>(n));
      else if (n < 0 && errno != EAGAIN) in_buf.clear(), in_eof = true;
    }
    if (in >= 0 && in_eof && in_buf.empty()) ::close(in), in = -1;
    {
      std::lock_guard<std::mutex> l(*env_.mu);
      if (Job* j = env_.jobs->table().find(id))
        for (auto& c : std::exchange(j->ctl_q, {}))
          moves.push_back({c.value("to", std::string()), c.value("client", -1), false, -1, c.value("reason", std::string()),
                           precopy_of(c)});
    }
    for (const auto& m : moves)
      if (do_move(m)) {
        if (in >= 0) ::close(in);
        std::lock_guard<std::mutex> l(*env_.mu);
        env_.jobs->table().erase(id);
        return;
      }
    if (!reaped) {
      int st = 0;
      if (::waitpid(pid, &st, WNOHANG) == pid) {
        reaped = true;
        status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
    }
    if (reaped && out < 0 && err < 0) {
      if (link->send({"exit", {{"status", status}}, {}})) link->readable(5);  // let the home read it
      if (in >= 0) ::close(in);
      std::lock_guard<std::mutex> l(*env_.mu);
      if (Job* j = env_.jobs->table().find(id)) {
        j->exit_code = status;
        j->state = JobState::Exited;
        j->ended = now_s();
      }
      env_.log("job " + id + " ended with status " + std::to_string(status) + " (output relayed home)");
      return;
    }
  }
}

void Migrator::home_relay(std::unique_ptr<TcpPeerLink> link, const Frame& first) {
  const std::string id = first.meta.value("id", std::string());
  const int epoch = first.meta.value("epoch", -1);
  RelayWake wake(*env_.mu, env_.jobs->table(), id);
  // Earlier residences' output first.
  for (;;) {
    {
      std::lock_guard<std::mutex> l(*env_.mu);
      Job* j = env_.jobs->table().find(id);
      if (!j || j->state != JobState::Running || j->out_epoch > epoch) {
        link->send({"unknown", {}, {}});
        return;
      }
      if (j->out_epoch == epoch) {
        wake.attach(*j);
        break;
      }
    }
    nap(20);
  }
  bool eof_sent = false;
  for (;;) {
    std::string in;
    std::vector<int> sigs;
    std::vector<nlohmann::json> ctls;
    bool congested = false, eof = false;
    {
      std::lock_guard<std::mutex> l(*env_.mu);
      Job* j = env_.jobs->table().find(id);
      if (!j || j->state != JobState::Running) return;
      if (j->remote && j->migrations == epoch) {  // requests are for the current residence only
        size_t n = std::min<size_t>(j->in_q.size(), 65536);
        in = j->in_q.substr(0, n);
        j->in_q.erase(0, n);
        sigs = std::exchange(j->sig_q, {});
        ctls = std::exchange(j->ctl_q, {});
        eof = j->in_eof && j->in_q.empty() && !eof_sent;
      }
      congested = env_.jobs->watcher_congested(*j);
    }
    if (!in.empty()) link->send({"stdin", {}, in});
    if (eof) eof_sent = link->send({"eof", {}, {}});
    for (int s : sigs) link->send({"signal", {{"sig", s}}, {}});
    for (const auto& c : ctls) link->send({"migrate", c, {}});
    if (congested) {
      nap(10);
      continue;
    }
    // Frames from the node running the job, or stdin, signals and moves queued here (wake_relay);
    // without an eventfd, what is queued here waits at most 200 ms.
    pollfd p[2] = {{link->fd(), POLLIN, 0}, {wake.fd(), POLLIN, 0}};
    ::poll(p, wake.fd() >= 0 ? 2 : 1, wake.fd() >= 0 ? 1000 : 200);
    if (wake.fd() >= 0 && p[1].revents) wake.clear();
    if (!p[0].revents) {
      if (link->broken()) break;
      continue;
    }
    auto f = link->recv(60);
    if (!f) break;
    std::lock_guard<std::mutex> l(*env_.mu);
    Job* j = env_.jobs->table().find(id);
    if (!j) return;
    if (f->kind == "out") {
      env_.jobs->deliver(*j, f->meta.value("fd", 1), f->data);
    } else if (f->kind == "exit") {
      env_.jobs->end(*j, f->meta.value("status", 255), now_s());
      return;
    } else if (f->kind == "moved") {
      j->out_epoch = epoch + 1;
      const std::string to = f->meta.value("to", std::string("?"));
      if (j->remote) j->node = to, j->migrations = std::max(j->migrations, f->meta.value("epoch", epoch + 1));
      j->moved = "to " + to + " (" + f->meta.value("why", std::string()) + ")";
      return;
    } else if (f->kind == "migrated") {
      int client = f->meta.value("client", -1);
      nlohmann::json rep = f->meta;
      rep.erase("client");
      if (client >= 0) env_.reply(client, rep);
    }
  }
  std::lock_guard<std::mutex> l(*env_.mu);
  env_.log("job " + id + ": relay from its node broke; waiting for it to reconnect");
}

}  // namespace grappe
