#include "jobs/job_service.h"

#include <grp.h>
#include <pwd.h>
#include <sodium.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <limits>

#include "common/api_protocol.h"
#include "common/json_fields.h"
#include "jobs/job_inspect.h"
#include "jobs/job_pid.h"

namespace grappe {
namespace {

constexpr size_t kMaxArgBytes = 256 * 1024;
constexpr size_t kStdinQueue = 1 << 20;
constexpr double kKeepExited = 300;  // seconds an ended job stays in `grappe ps --all`


// The command line and environment: no NUL inside a string (execve would cut it), 256 KiB in all.
void check_exec_strings(Fields& f, const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  size_t bytes = 0;
  for (const auto* v : {&argv, &env})
    for (const auto& a : *v) {
      bytes += a.size() + 1;
      if (a.find('\0') != std::string::npos) f.fail(std::string(v == &argv ? "\"argv\"" : "\"env\"") + " holds a NUL byte");
    }
  if (bytes > kMaxArgBytes) f.fail("command line and environment exceed 256 KiB");
}

// The caller's nice value, read from the kernel (SO_PEERCRED's pid), never from the request: a
// request could not ask for more priority than its caller has. 0 when the caller is gone.
int caller_nice(pid_t pid) {
  if (pid <= 0) return 0;
  errno = 0;
  int n = ::getpriority(PRIO_PROCESS, static_cast<id_t>(pid));
  return errno != 0 ? 0 : n;
}

}  // namespace


JobService::JobService(Spawner& spawner, std::string init_path, std::string node_name, std::string proc)
    : spawner_(spawner), init_path_(std::move(init_path)), node_(std::move(node_name)), proc_(std::move(proc)) {}

Job* JobService::attached_job(const Caller& who) {
  for (auto& [id, job] : jobs_.all())
    if (job.watcher == who.client && job.state == JobState::Running) return &job;
  return nullptr;
}

nlohmann::json JobService::stdin_data(const nlohmann::json& req, const Caller& who) {
  Fields f(req, "stdin");
  std::string raw;
  if (std::string data = f.str("data", "", Need::Required); f.ok() && !b64_decode(data, raw)) f.fail("\"data\" must be base64");
  if (!f.ok()) return api_error(f.error());
  Job* j = attached_job(who);
  if (!j) return api_error("stdin: no running job attached to this connection");
  if (!j->in_eof && (j->in >= 0 || j->remote || j->migrating)) j->in_q += raw;
  wake_relay(*j);
  return {};
}

nlohmann::json JobService::stdin_eof(const nlohmann::json&, const Caller& who) {
  Job* j = attached_job(who);
  if (!j) return api_error("eof: no running job attached to this connection");
  j->in_eof = true;
  wake_relay(*j);
  return {};
}

nlohmann::json JobService::signal(const nlohmann::json& req, const Caller& who) {
  Fields f(req, "signal");
  const int sig = static_cast<int>(f.integer("sig", 0, 1, NSIG - 1, Need::Required));
  if (!f.ok()) return api_error(f.error());
  Job* j = attached_job(who);
  if (!j) return api_error("signal: no running job attached to this connection");
  if (j->remote) j->sig_q.push_back(sig), wake_relay(*j);  // its relay carries it to the node running it
  else signal_job(*j, sig);  // grappe-job-init forwards it
  return {};
}

nlohmann::json JobService::run(const nlohmann::json& req, const Caller& who, double now, bool& attached) {
  Fields f(req, "run");
  SpawnSpec spec;
  spec.argv = f.strings("argv", Need::Required);
  if (f.ok() && spec.argv.empty()) f.fail("\"argv\" must not be empty (the command and its arguments)");
  spec.env = f.strings("env");
  spec.cwd = f.str("cwd", "/", Need::Optional, 4096);
  if (f.ok() && (spec.cwd.empty() || spec.cwd[0] != '/')) f.fail("\"cwd\" must be an absolute path");
  const int node = static_cast<int>(f.integer("node", 0, 0, 65535));
  spec.pipe_stdin = f.boolean("stdin", false);
  const bool stay = f.boolean("stay", false), detach = f.boolean("detach", false);
  const bool tty_out = f.boolean("tty_out", false), tty_err = f.boolean("tty_err", false);
  check_exec_strings(f, spec.argv, spec.env);
  if (!f.ok()) return api_error(f.error());
  if (number_ == 0) {  // ids carry the node number, chosen within ~2 s of start-up
    nlohmann::json r = api_error("run: this node has no node number yet (grapped has just started); try again");
    r["retry"] = true;
    return r;
  }
  if (node != 0 && node != number_) {
    std::string why = placeable ? placeable(node) : "this daemon cannot place jobs on other nodes";
    if (!why.empty()) return api_error("run --node " + std::to_string(node) + ": " + why);
  }
  spec.uid = who.uid;
  spec.gid = who.gid;
  std::string user = std::to_string(who.uid);
  if (passwd* pw = ::getpwuid(who.uid)) {
    user = pw->pw_name;
    int n = 64;
    spec.groups.resize(static_cast<size_t>(n));
    if (::getgrouplist(pw->pw_name, who.gid, spec.groups.data(), &n) < 0) n = 0;
    spec.groups.resize(static_cast<size_t>(n));
  }
  spec.nice = caller_nice(who.pid);
  spec.init_path = init_path_;
  if (::access(init_path_.c_str(), X_OK) != 0)
    return api_error("run: " + init_path_ + " is missing or not executable: " + std::strerror(errno) +
                " (reinstall grappe, or point grapped --job-init at it)");
  Job j;
  j.id = jobs_.new_id(number_);
  spec.job_id = j.id;
  spec.status_file = make_status_file(j.id, who.uid);
  Spawned s = spawner_.spawn(spec);
  if (s.pid < 0) {
    if (!spec.status_file.empty()) ::unlink(spec.status_file.c_str());
    return api_error("run: " + s.error);
  }
  if (s.scope_error != scope_error_ && log && !s.scope_error.empty())
    log("jobs run in grapped's cgroup (a restart of grapped under systemd would end them): " + s.scope_error);
  scope_error_ = s.scope_error;
  j.pidfd = s.pidfd;
  j.start_ticks = s.start_ticks;
  j.status_file = spec.status_file;
  j.argv = spec.argv;
  j.uid = who.uid;
  j.user = user;
  j.home = j.node = node_;
  j.home_number = number_;
  j.pid = s.pid;
  j.in = s.in;
  j.out = s.out;
  j.err = s.err;
  j.started = j.arrived = now;
  if (node != 0 && node != number_) j.place = node;
  j.stay = stay;
  attached = !detach;
  if (attached) j.watcher = who.client;
  j.tty[1] = attached && tty_out;
  j.tty[2] = attached && tty_err;
  Job& added = jobs_.add(std::move(j));
  keep_fds(added);
  if (log) log("job " + added.id + " started: " + added.argv[0] + " (user " + user + ", pid " + std::to_string(s.pid) + ")");
  return {{"v", 1}, {"ok", true}, {"job", added.id}, {"pid", s.pid}, {"node", node_}};
}

nlohmann::json JobService::job_json(const Job& j, double now) {
  std::string command;
  for (const auto& a : j.argv) command += (command.empty() ? "" : " ") + a;
  nlohmann::json o = {{"id", j.id},          {"command", command}, {"argv", j.argv},     {"user", j.user},
                      {"uid", j.uid},        {"home", j.home},     {"node", j.node},     {"state", job_state_name(j.state)},
                      {"migrations", j.migrations}, {"stay", j.stay}, {"age_s", (j.state == JobState::Exited ? j.ended : now) - j.started}};
  if (!j.moved.empty()) o["moved"] = j.moved;
  if (j.migrating) o["migrating"] = true;
  if (j.state == JobState::Running && j.remote) {
    o["movable"] = !j.stay;
    o["why"] = j.stay ? "started with --stay" : "";
  } else if (j.state == JobState::Running) {
    auto pids = job_processes(proc_, j.pid);
    auto u = job_usage(proc_, pids);
    o["cpu_s"] = u.cpu_s;
    o["rss_kb"] = u.rss_kb;
    std::string why = why_not_movable(proc_, pids);
    if (why.empty() && j.stay) why = "started with --stay";
    o["movable"] = why.empty();
    o["why"] = why;
    if (std::string s = why.empty() && stays ? stays(j) : ""; !s.empty()) o["stays"] = s;
  } else {
    o["exit_code"] = j.exit_code;
  }
  return o;
}

nlohmann::json JobService::ps(const nlohmann::json& req, const Caller& who, double now) {
  Fields f(req, "ps");
  const bool all = f.boolean("all", false);
  if (!f.ok()) return api_error(f.error());
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [id, j] : jobs_.all()) {
    if (!all && (j.state != JobState::Running || !JobTable::may_act(j, who.uid))) continue;
    list.push_back(job_json(j, now));
  }
  return {{"v", 1}, {"ok", true}, {"jobs", list}};
}

nlohmann::json JobService::kill(const nlohmann::json& req, const Caller& who) {
  Fields f(req, "kill");
  const std::string id = f.str("job", "", Need::Required, 64);
  const int sig = static_cast<int>(f.integer("sig", SIGTERM, 1, NSIG - 1));
  if (!f.ok()) return api_error(f.error());
  Job* j = jobs_.find(id);
  if (!j) return api_error("kill: no job " + id + " on this node (grappe ps --all lists them)");
  if (!JobTable::may_act(*j, who.uid)) return api_error("kill: job " + id + " belongs to " + j->user);
  if (j->state != JobState::Running) return api_error("kill: job " + id + " has already ended");
  if (j->remote) j->sig_q.push_back(sig), wake_relay(*j);
  else signal_job(*j, sig);
  if (log) log("job " + id + ": signal " + std::to_string(sig) + " from uid " + std::to_string(who.uid));
  return {{"v", 1}, {"ok", true}, {"job", id}, {"sig", sig}};
}

void JobService::detach(int client) {
  for (auto& [id, j] : jobs_.all())
    if (j.watcher == client) {
      j.watcher = -1;
      j.in_eof = true;  // nobody types to it any more
      wake_relay(j);
    }
}

bool JobService::accepts_input(int client) {
  for (auto& [id, j] : jobs_.all())
    if (j.watcher == client && j.in_q.size() >= kStdinQueue) return false;
  return true;
}

void JobService::add_pollfds(std::vector<pollfd>& fds, double now) const {
  for (const auto& [id, j] : jobs_.all())  // an adopted job's exit wakes the loop: no waitpid for it
    if (j.adopted && !j.reaped && j.pidfd >= 0 && j.state == JobState::Running) fds.push_back({j.pidfd, POLLIN, 0});
  for (const auto& [id, j] : jobs_.all())
    if (!j.guest && !j.awaiting_caller && j.local_epoch == j.out_epoch)
      for (int s : {1, 2})
        if (j.pipe(s) >= 0 && now >= j.quiet_until[s]) fds.push_back({j.pipe(s), POLLIN, 0});
}

double JobService::quiet_until(double now) const {
  double t = std::numeric_limits<double>::infinity();
  for (const auto& [id, j] : jobs_.all()) {
    if (j.awaiting_caller) t = std::min(t, j.reattach_until);
    if (!j.guest && !j.awaiting_caller && j.local_epoch == j.out_epoch)
      for (int s : {1, 2})
        if (j.pipe(s) >= 0 && now < j.quiet_until[s]) t = std::min(t, j.quiet_until[s]);
  }
  return t;
}

bool JobService::drain(Job& j, int& fd, int stream) {
  char buf[16384];
  bool got = false;
  for (int round = 0; fd >= 0 && round < 8; ++round) {
    if (j.watcher >= 0 && congested && congested(j.watcher)) return got;  // the job waits: nothing is lost
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      got = true;
      deliver(j, stream, std::string(buf, static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return got;
    ::close(fd);
    fd = -1;
  }
  return got;
}

void JobService::deliver(Job& j, int stream, const std::string& data) {
  // "off": where this piece starts in the stream, so a caller that reattaches (after grapped
  // restarted) can tell a gap or a repeat.
  if (j.watcher >= 0 && send)
    send(j.watcher, {{"ev", "out"}, {"fd", stream}, {"off", j.sent[stream]}, {"data", b64_encode(data)}});
  j.sent[stream] += data.size();
}

void JobService::end(Job& j, int status, double now) {
  close_job_fds(j);
  if (j.pidfd >= 0) ::close(j.pidfd), j.pidfd = -1;
  for (const char* s : {"in", "out", "err"}) drop_fd(j, s);
  if (!j.status_file.empty()) ::unlink(j.status_file.c_str());
  j.exit_code = status;
  j.state = JobState::Exited;
  j.remote = false;
  j.ended = now;
  if (on_ended) on_ended(j);
  if (log) log("job " + j.id + " ended with status " + std::to_string(j.exit_code));
  if (j.watcher >= 0) {
    if (send) send(j.watcher, {{"ev", "exit"}, {"job", j.id}, {"status", j.exit_code}});
    if (finish) finish(j.watcher);
    j.watcher = -1;
  }
}

void JobService::close_job_fds(Job& j) {
  for (int* fd : {&j.in, &j.out, &j.err})
    if (*fd >= 0) ::close(*fd), *fd = -1;
}

void JobService::pump(double now) {
  for (auto it = jobs_.all().begin(); it != jobs_.all().end();) {
    Job& j = it->second;
    if (j.state == JobState::Exited) {
      it = now - j.ended > kKeepExited ? jobs_.all().erase(it) : std::next(it);
      continue;
    }
    if (j.guest) {  // its relay thread reads, reaps and reports it
      ++it;
      continue;
    }
    if (j.in >= 0 && !j.in_q.empty() && !j.migrating) {
      ssize_t n = ::write(j.in, j.in_q.data(), j.in_q.size());
      if (n > 0) j.in_q.erase(0, static_cast<size_t>(n));
      else if (n < 0 && errno != EAGAIN) j.in_q.clear(), j.in_eof = true;  // the job closed its stdin
    }
    if (j.awaiting_caller && now > j.reattach_until) j.awaiting_caller = false, j.in_eof = true;  // nobody came back
    if (j.in >= 0 && j.in_eof && j.in_q.empty()) drop_fd(j, "in"), ::close(j.in), j.in = -1;  // the keeper's copy first
    if (j.local_epoch == j.out_epoch && !j.awaiting_caller)  // earlier residences' output first
      for (int s : {1, 2})
        if (now >= j.quiet_until[s] && drain(j, j.pipe(s), s))
          j.quiet_until[s] = next_output_slot(now, output_gap(j, s));
    if (!j.reaped && !j.remote) reap(j);
    // Moved away: once this residence's output is all delivered, the next one's may follow.
    if (j.remote && j.local_epoch >= 0 && j.local_epoch == j.out_epoch && j.out < 0 && j.err < 0) {
      next_out_epoch(j, j.out_epoch + 1);
      j.local_epoch = -1;
    }
    // Ended once the init is reaped and both pipes are drained: output first, then the status.
    // Not while a handoff runs: CRIU ending the source copy is not the job ending.
    if (!j.migrating && !j.remote && j.reaped && j.out < 0 && j.err < 0) end(j, j.exit_code, now);
    ++it;
  }
}

// Our child: waitpid. Adopted (an earlier grapped started it): its pidfd says when it exited and
// grappe-job-init wrote the status down; a SIGKILL leaves none, 128+9 is what a parent would see.
void JobService::reap(Job& j) {
  if (!j.adopted) {
    int st = 0;
    if (::waitpid(j.pid, &st, WNOHANG) == j.pid) {
      j.reaped = true;
      j.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    return;
  }
  if (j.pidfd >= 0 && !pidfd_exited(j.pidfd)) return;
  j.reaped = true;
  j.exit_code = read_exit_status(j.status_file);
  if (j.exit_code < 0) j.exit_code = j.last_signal == SIGKILL ? 128 + SIGKILL : 255;
}

// Through the pidfd. By pid only for our own child not yet reaped (its zombie holds the pid); an
// adopted job without a pidfd has ended, and its pid may belong to anyone by now.
void JobService::signal_job(Job& j, int sig) {
  if (j.reaped || (j.pidfd < 0 && j.adopted)) return;
  signal_process(j.pidfd, j.pid, sig);
  j.last_signal = sig;
}

}  // namespace grappe
