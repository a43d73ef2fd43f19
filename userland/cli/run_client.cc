#include "cli/run_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "cli/api_client.h"
#include "common/api_protocol.h"
#include "common/fd_io.h"

extern char** environ;

namespace grappe {
namespace {

volatile sig_atomic_t g_pending[65];
void on_signal(int sig) { g_pending[sig] = 1; }

int connect_to(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) return fd;
  std::fprintf(stderr, "grappe: cannot reach grapped at %s (%s). Is it running? On a node: systemctl status grapped\n",
               path.c_str(), std::strerror(errno));
  if (fd >= 0) ::close(fd);
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

int run_once(const std::string& socket, const RunOptions& opt) {
  int fd = connect_to(socket);
  if (fd < 0) return 255;
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  std::error_code ec;
  auto here = std::filesystem::current_path(ec);
  const std::string cwd = ec ? std::string("/") : here.string();
  bool use_stdin = opt.forward_stdin && !opt.detach;
  nlohmann::json req = {{"v", kApiVersion}, {"cmd", "run"}, {"argv", opt.argv}, {"env", env}, {"cwd", cwd},
                        {"detach", opt.detach}, {"stay", opt.stay}, {"node", opt.node}, {"stdin", use_stdin},
                        {"tty_out", !opt.detach && ::isatty(1)}, {"tty_err", !opt.detach && ::isatty(2)}};
  if (!write_all(fd, req.dump() + "\n")) {
    std::fprintf(stderr, "grappe: grapped at %s closed the connection\n", socket.c_str());
    return 255;
  }
  if (!opt.detach)
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH}) {
      struct sigaction sa {};
      sa.sa_handler = on_signal;
      ::sigaction(sig, &sa, nullptr);
    }
  std::string buf, job;
  bool stdin_open = use_stdin;
  for (;;) {
    for (int sig = 1; sig < 65; ++sig)
      if (g_pending[sig]) {
        g_pending[sig] = 0;
        if (sig != SIGWINCH) write_all(fd, nlohmann::json{{"v", kApiVersion}, {"cmd", "signal"}, {"sig", sig}}.dump() + "\n");
      }
    pollfd p[2] = {{fd, POLLIN, 0}, {0, POLLIN, 0}};
    // stdin is read only once the job exists: nothing is sent to a daemon that may still refuse.
    int n = ::poll(p, stdin_open && !job.empty() ? 2 : 1, -1);
    if (n < 0 && errno == EINTR) continue;
    if (stdin_open && !job.empty() && (p[1].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
      char b[16384];
      ssize_t r = ::read(0, b, sizeof b);
      if (r > 0) {
        write_all(fd, nlohmann::json{{"v", kApiVersion}, {"cmd", "stdin"}, {"data", b64_encode(std::string(b, static_cast<size_t>(r)))}}.dump() + "\n");
      } else if (r == 0 || errno != EINTR) {
        stdin_open = false;
        write_all(fd, nlohmann::json{{"v", kApiVersion}, {"cmd", "eof"}}.dump() + "\n");
      }
    }
    if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    char b[65536];
    ssize_t r = ::read(fd, b, sizeof b);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      std::fprintf(stderr, "grappe: lost contact with grapped%s%s\n", job.empty() ? "" : "; job ",
                   job.empty() ? "" : (job + " keeps running (grappe ps)").c_str());
      return 255;
    }
    buf.append(b, static_cast<size_t>(r));
    for (size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
      auto m = nlohmann::json::parse(buf.substr(0, nl), nullptr, false);
      buf.erase(0, nl + 1);
      if (!m.is_object()) continue;
      if (m.contains("ok")) {
        if (!m.value("ok", false)) {
          if (m.value("retry", false) && job.empty()) {
            ::close(fd);
            return kRetry;
          }
          std::fprintf(stderr, "grappe: %s\n", m.value("error", std::string("request failed")).c_str());
          if (job.empty()) return 255;
          continue;
        }
        if (m.contains("job") && job.empty()) {
          job = m["job"].get<std::string>();
          if (opt.detach) {
            std::printf("%s\n", job.c_str());
            return 0;
          }
        }
      }
      std::string ev = m.value("ev", "");
      if (ev == "out") {
        std::string raw;
        if (b64_decode(m.value("data", std::string()), raw)) write_all(m.value("fd", 1) == 2 ? 2 : 1, raw);
      } else if (ev == "exit") {
        return m.value("status", 255);
      }
    }
  }
}

}  // namespace
}  // namespace grappe
