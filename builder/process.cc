#include "process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <cstring>

#include "common/fd_io.h"
#include "error.h"

namespace grappe::build {

std::string join_argv(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    bool plain = !a.empty() && a.find_first_of(" \t\"'$\\;&|<>*?()") == std::string::npos;
    s += plain ? a : "'" + a + "'";
  }
  return s;
}

namespace {

// The children running now, one slot per concurrent run() (stages build in parallel). Read by the
// signal handler, so plain sig_atomic_t slots, claimed under a mutex.
constexpr int kSlots = 16;
volatile sig_atomic_t g_children[kSlots] = {};
volatile sig_atomic_t g_terminate = 0;
std::atomic<bool> g_stopped{false};
std::mutex g_slots_mu;

void kill_children() {
  for (int i = 0; i < kSlots; ++i)
    if (g_children[i] > 0) ::kill(-static_cast<pid_t>(g_children[i]), SIGTERM);  // its whole group
}

void on_signal(int sig) {
  g_terminate = sig;
  kill_children();
}

int claim_slot(pid_t pid) {
  std::lock_guard<std::mutex> l(g_slots_mu);
  for (int i = 0; i < kSlots; ++i)
    if (g_children[i] == 0) {
      g_children[i] = pid;
      return i;
    }
  return -1;  // more than kSlots at once: this child is not signalled on interruption
}

void release_slot(int i) {
  std::lock_guard<std::mutex> l(g_slots_mu);
  if (i >= 0) g_children[i] = 0;
}

// A child's slot, released however run() leaves (a throwing on_line callback included).
struct SlotGuard {
  int slot;
  explicit SlotGuard(pid_t pid) : slot(claim_slot(pid)) {}
  ~SlotGuard() { release_slot(slot); }
  SlotGuard(const SlotGuard&) = delete;
  SlotGuard& operator=(const SlotGuard&) = delete;
};

// The environment of the child, built before fork (the child of a multithreaded process only execs).
std::vector<std::string> child_env(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    if (!extra.count(kv.substr(0, kv.find('=')))) env.push_back(kv);
  }
  for (const auto& [k, v] : extra) env.push_back(k + "=" + v);
  return env;
}

int open_or_die(const std::string& p, int flags) {
  int fd = ::open(p.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("cannot open " + p, std::strerror(errno));
  return fd;
}

int wait_status(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return 127;
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 127;
}

}  // namespace

void forward_termination_signals() {
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

bool termination_requested() { return g_terminate != 0; }

void stop_children(bool stop) {
  g_stopped = stop;
  if (stop) kill_children();
}
int termination_signal() { return g_terminate; }

namespace {

// A descriptor closed however run() leaves.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// The child, stopped (its whole group) and waited for if run() leaves early (a throwing on_line).
// While it stops, its output still goes to the log: a tool cleaning up on SIGTERM never blocks on
// a full pipe.
struct ChildGuard {
  pid_t pid;
  int out, log;  // the read end of its pipe, the log: open while the guard lives
  bool waited = false;
  ~ChildGuard() {
    if (waited) return;
    ::kill(-pid, SIGTERM);
    char buf[4096];
    for (int i = 0; i < 50; ++i) {  // 5 s to stop, then SIGKILL: a tool that ignores TERM never hangs us
      if (::waitpid(pid, nullptr, WNOHANG) == pid) {
        ::kill(-pid, SIGKILL);  // what the tool started and left behind
        return;
      }
      pollfd p{out, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        ssize_t n = ::read(out, buf, sizeof buf);
        if (n > 0) write_all(log, std::string_view(buf, static_cast<size_t>(n)));
        else ::usleep(100000);  // end of file: the group closed its ends
      }
    }
    ::kill(-pid, SIGKILL);
    wait_status(pid);
  }
};

// Reads the child's output to the log, line by line to on_line (lines capped at 4096 bytes).
void pump(int from, int logfd, const RunOptions& opt) {
  std::string line;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(from, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    write_all(logfd, std::string_view(buf, static_cast<size_t>(n)));  // best effort
    if (!opt.on_line) continue;
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] == '\n' || buf[i] == '\r') {
        if (!line.empty()) opt.on_line(line);
        line.clear();
      } else if (line.size() < 4096) {
        line += buf[i];
      }
    }
  }
  if (opt.on_line && !line.empty()) opt.on_line(line);
}

}  // namespace

int RealProcessRunner::run(const std::vector<std::string>& argv, const RunOptions& opt) {
  if (argv.empty()) throw Error("empty command");
  Fd logfd(opt.log_path.empty() ? open_or_die("/dev/null", O_WRONLY)
                                : open_or_die(opt.log_path, O_WRONLY | O_CREAT | O_APPEND));
  if (!opt.log_path.empty()) write_all(logfd.fd, "$ " + join_argv(argv) + "\n");  // best effort
  Fd inf(open_or_die(opt.stdin_path.empty() ? "/dev/null" : opt.stdin_path, O_RDONLY));
  Fd outf(opt.stdout_path.empty() ? -1 : open_or_die(opt.stdout_path, O_WRONLY | O_CREAT | O_TRUNC));
  int pfd[2];
  if (::pipe2(pfd, O_CLOEXEC) < 0) throw Error("pipe failed", std::strerror(errno));
  Fd rd(pfd[0]), wr(pfd[1]);

  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const std::vector<std::string> env = child_env(opt.env);
  for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  if (g_stopped) throw Error("stopped", join_argv(argv), "another stage failed");

  // Built before fork: the child of a multithreaded process only calls async-signal-safe functions.
  const std::string exec_failed = "exec " + argv[0] + ": ";
  pid_t pid = ::fork();
  if (pid < 0) throw Error("fork failed", std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);  // its own process group: a stop signals the tool and everything it started
    ::dup2(inf.fd, 0);
    ::dup2(outf.fd >= 0 ? outf.fd : wr.fd, 1);
    ::dup2(wr.fd, 2);
    if (!opt.cwd.empty() && ::chdir(opt.cwd.c_str()) < 0) _exit(126);
    ::execvpe(cargv[0], cargv.data(), cenv.data());
    const int err = errno;
    (void)!::write(2, exec_failed.data(), exec_failed.size());
    const char* why = err == ENOENT ? "not found\n" : err == EACCES ? "permission denied\n" : "cannot execute\n";
    (void)!::write(2, why, std::strlen(why));
    _exit(127);
  }
  ::setpgid(pid, pid);  // also here, so the group exists before any kill below
  ChildGuard child{pid, rd.fd, logfd.fd};
  const SlotGuard slot(pid);
  if (g_terminate || g_stopped) ::kill(-pid, SIGTERM);
  wr.reset(), inf.reset(), outf.reset();
  pump(rd.fd, logfd.fd, opt);
  rd.reset(), logfd.reset();
  child.waited = true;
  int rc = wait_status(pid);
  if (g_terminate) throw Error("interrupted", join_argv(argv), "run the same command again to resume");
  if (g_stopped) throw Error("stopped", join_argv(argv), "another stage failed");
  return rc;
}

std::string RealProcessRunner::capture(const std::vector<std::string>& argv) {
  char tmpl[] = "/tmp/grappe-capture-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0) throw Error("mkstemp failed", std::strerror(errno));
  ::close(fd);
  std::string errlog = std::string(tmpl) + ".err";
  RunOptions o;
  o.stdout_path = tmpl;
  o.log_path = errlog;
  int rc = run(argv, o);
  std::string out, err;
  auto slurp = [](const char* p, std::string& s) {
    int f = ::open(p, O_RDONLY | O_CLOEXEC);
    if (f < 0) return;
    char b[8192];
    ssize_t n;
    while ((n = ::read(f, b, sizeof b)) > 0) s.append(b, static_cast<size_t>(n));
    ::close(f);
  };
  slurp(tmpl, out);
  slurp(errlog.c_str(), err);
  ::unlink(tmpl);
  ::unlink(errlog.c_str());
  if (rc != 0)
    throw Error("command failed with status " + std::to_string(rc), join_argv(argv),
                err.size() > 2000 ? err.substr(err.size() - 2000) : err);
  return out;
}

}  // namespace grappe::build
