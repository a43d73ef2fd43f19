#include "cli/run_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli/api_client.h"
#include "common/json_fields.h"
#include "common/api_protocol.h"
#include "common/fd_io.h"

extern char** environ;

namespace grappe {
namespace {

volatile sig_atomic_t g_pending[65];
void on_signal(int sig) { g_pending[sig] = 1; }

// A connection to grapped's socket, or -1 with errno set.
int dial(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) return fd;
  const int saved = errno;
  if (fd >= 0) ::close(fd);
  errno = saved;
  return -1;
}

int connect_to(const std::string& path) {
  int fd = dial(path);
  if (fd >= 0) return fd;
  std::fprintf(stderr, "grappe: cannot reach grapped at %s (%s). Is it running? On a node: systemctl status grapped\n",
               path.c_str(), std::strerror(errno));
  return -1;
}

constexpr int kRetry = -1;
int run_once(const std::string& socket, const RunOptions& opt);

}  // namespace

int run_job(const std::string& socket, const RunOptions& opt) {
  ::signal(SIGPIPE, SIG_IGN);  // a daemon that goes away is reported, not a silent death
  for (int attempt = 0;; ++attempt) {
    int rc = run_once(socket, opt);
    if (rc != kRetry) return rc;
    if (attempt == 50) {
      std::fprintf(stderr, "grappe: grapped has no node number after 5 s; is it alone and starting? see journalctl -u grapped\n");
      return 255;
    }
    ::usleep(100000);
  }
}

namespace {

// One connection's worth of `grappe run`: the request, then the stream until the exit event.
class RunSession {
 public:
  RunSession(const std::string& socket, const RunOptions& opt) : socket_(socket), opt_(opt) {}
  ~RunSession() {
    if (fd_ >= 0) ::close(fd_);
  }

  int run() {
    fd_ = connect_to(socket_);
    if (fd_ < 0) return 255;
    if (!send_request()) {
      std::fprintf(stderr, "grappe: grapped at %s closed the connection\n", socket_.c_str());
      return 255;
    }
    if (!opt_.detach) catch_signals();
    for (;;) {
      forward_signals();
      pollfd p[2] = {{fd_, POLLIN, 0}, {0, POLLIN, 0}};
      // stdin is read only once the job exists: nothing is sent to a daemon that may still refuse.
      const bool reading_stdin = stdin_open_ && !job_.empty();
      if (::poll(p, reading_stdin ? 2 : 1, -1) < 0 && errno == EINTR) continue;
      if (reading_stdin && (p[1].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) pump_stdin();
      if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char b[65536];
      ssize_t r = ::read(fd_, b, sizeof b);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        if (!job_.empty() && !opt_.detach && reattach()) continue;
        std::fprintf(stderr, "grappe: lost contact with grapped%s%s\n", job_.empty() ? "" : "; job ",
                     job_.empty() ? "" : (job_ + " keeps running (grappe ps)").c_str());
        return 255;
      }
      buf_.append(b, static_cast<size_t>(r));
      for (size_t nl; (nl = buf_.find('\n')) != std::string::npos;) {
        auto m = nlohmann::json::parse(buf_.substr(0, nl), nullptr, false);
        buf_.erase(0, nl + 1);
        if (auto done = handle(m)) return *done;
      }
    }
  }

 private:
  bool send_request() {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    std::error_code ec;
    auto here = std::filesystem::current_path(ec);
    const std::string cwd = ec ? std::string("/") : here.string();
    stdin_open_ = opt_.forward_stdin && !opt_.detach;
    nlohmann::json req = {{"v", kApiVersion}, {"cmd", "run"}, {"argv", opt_.argv}, {"env", env}, {"cwd", cwd},
                          {"detach", opt_.detach}, {"stay", opt_.stay}, {"node", opt_.node}, {"stdin", stdin_open_},
                          {"tty_out", !opt_.detach && ::isatty(1)}, {"tty_err", !opt_.detach && ::isatty(2)}};
    return write_all(fd_, dump_safe(req) + "\n");
  }

  // grapped went away (a crash, a restart, an upgrade) but jobs outlive it: connect to the next one
  // and take the stream up where it broke, saying how many bytes already arrived. Up to 2 minutes.
  bool reattach() {
    std::fprintf(stderr, "grappe: lost contact with grapped; job %s keeps running, reattaching...\n", job_.c_str());
    ::close(fd_);
    fd_ = -1;
    buf_.clear();
    for (int tries = 0; tries < 600; ++tries) {
      ::usleep(200000);
      if ((fd_ = dial(socket_)) < 0) continue;
      nlohmann::json req = {{"v", kApiVersion}, {"cmd", "attach"}, {"job", job_}, {"off", {have_[1], have_[2]}}, {"stdin", stdin_open_},
                            {"tty_out", ::isatty(1) == 1}, {"tty_err", ::isatty(2) == 1}};
      if (write_all(fd_, dump_safe(req) + "\n")) {
        reattaching_ = true;
        return true;
      }
      ::close(fd_);
      fd_ = -1;
    }
    return false;
  }

  // Output from offset `off` of stream `fd`: what this client already has is skipped, a gap is said.
  void write_output(int fd, int64_t off, const std::string& raw) {
    const uint64_t at = off >= 0 ? static_cast<uint64_t>(off) : have_[fd];  // where this piece starts
    if (at > have_[fd])
      std::fprintf(stderr, "grappe: %llu bytes of the job's output were lost while grapped restarted\n",
                   static_cast<unsigned long long>(at - have_[fd]));
    const uint64_t skip = at < have_[fd] ? std::min<uint64_t>(have_[fd] - at, raw.size()) : 0;  // already here
    write_all(fd, raw.substr(static_cast<size_t>(skip)));
    have_[fd] = std::max(have_[fd], at + raw.size());
  }

  static void catch_signals() {
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH}) {
      struct sigaction sa {};
      sa.sa_handler = on_signal;
      ::sigaction(sig, &sa, nullptr);
    }
  }

  void forward_signals() {
    for (int sig = 1; sig < 65; ++sig)
      if (g_pending[sig]) {
        g_pending[sig] = 0;
        if (sig != SIGWINCH) write_all(fd_, nlohmann::json{{"v", kApiVersion}, {"cmd", "signal"}, {"sig", sig}}.dump() + "\n");
      }
  }

  void pump_stdin() {
    char b[16384];
    ssize_t r = ::read(0, b, sizeof b);
    if (r > 0) {
      write_all(fd_, nlohmann::json{{"v", kApiVersion}, {"cmd", "stdin"}, {"data", b64_encode(std::string(b, static_cast<size_t>(r)))}}.dump() + "\n");
    } else if (r == 0 || errno != EINTR) {
      stdin_open_ = false;
      write_all(fd_, nlohmann::json{{"v", kApiVersion}, {"cmd", "eof"}}.dump() + "\n");
    }
  }

  // One line from grapped: a reply, an output event or the exit event. Returns the exit code
  // once `grappe run` is done.
  std::optional<int> handle(const nlohmann::json& m) {
    if (!m.is_object()) return std::nullopt;
    Fields f(m, "grapped's reply");
    if (reattaching_ && m.contains("ok")) {  // the answer to attach
      reattaching_ = false;
      if (!f.boolean("ok", false)) {
        std::fprintf(stderr, "grappe: %s\n", f.str("error", "attach failed").c_str());
        return 255;
      }
      std::fprintf(stderr, "grappe: reattached to job %s\n", job_.c_str());
      if (f.boolean("exited", false)) return static_cast<int>(f.integer("status", 255, 0, 255));
      return std::nullopt;
    }
    if (m.contains("ok")) {
      if (!f.boolean("ok", false)) {
        if (f.boolean("retry", false) && job_.empty()) return kRetry;
        std::fprintf(stderr, "grappe: %s\n", f.str("error", "request failed").c_str());
        if (job_.empty()) return 255;
        return std::nullopt;
      }
      if (job_.empty() && f.has("job")) {
        job_ = f.str("job", "?");
        if (opt_.detach) {
          std::printf("%s\n", job_.c_str());
          return 0;
        }
      }
    }
    const std::string ev = f.str("ev");
    if (ev == "out") {
      std::string raw;
      if (b64_decode(f.str("data"), raw)) write_output(f.integer("fd", 1, 1, 2) == 2 ? 2 : 1, f.integer("off", -1, 0, INT64_MAX), raw);
    } else if (ev == "exit") {
      return static_cast<int>(f.integer("status", 255, 0, 255));
    }
    return std::nullopt;
  }

  const std::string& socket_;
  const RunOptions& opt_;
  int fd_ = -1;
  std::string buf_, job_;
  bool stdin_open_ = false;
  bool reattaching_ = false;       // an attach was sent; its answer is next
  uint64_t have_[3] = {0, 0, 0};   // [1], [2]: bytes of stdout/stderr written here
};

int run_once(const std::string& socket, const RunOptions& opt) { return RunSession(socket, opt).run(); }

}  // namespace
}  // namespace grappe
