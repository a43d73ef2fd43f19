#include "console_attach.h"

#include <poll.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "common/fd_io.h"
#include "common/mono_clock.h"
#include "console.h"
#include "error.h"
#include "process.h"

namespace grappe::build {
namespace {

// The terminal on `fd` in raw mode for the object's life: bytes pass as typed (Ctrl-C is a
// byte for the node, not a signal here); the old mode comes back however the session ends.
class RawTerminal {
 public:
  explicit RawTerminal(int fd) : fd_(fd) {
    if (!::isatty(fd) || ::tcgetattr(fd, &saved_) != 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(fd, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(fd_, TCSANOW, &saved_);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  bool active() const { return active_; }

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

struct Socket {
  int fd;
  ~Socket() { ::close(fd); }
};

// A message on stderr that reads right whether or not the terminal is raw.
void say(bool raw, const std::string& text) {
  const std::string line = raw ? "\r\n" + text + "\r\n" : text + "\n";
  (void)write_all(2, line);
}

}  // namespace

size_t typed_to_send(std::string_view typed, bool& detach) {
  const size_t at = typed.find(kDetachKey);
  detach = at != std::string_view::npos;
  return detach ? at : typed.size();
}

int attach_console(const std::filesystem::path& sock, double write_timeout_s, int in_fd, int out_fd) {
  Socket s{connect_console(sock, now_s() + write_timeout_s)};
  RawTerminal term(in_fd);
  say(term.active(), "grappe-build console: attached to " + sock.string() + "; Ctrl-] detaches");
  std::string pending;  // typed, not yet taken by the console
  bool detach = false, input_open = true;
  double progress_at = now_s(), output_at = now_s();
  char buf[65536];
  for (;;) {
    if (termination_requested()) throw Error("interrupted while attached to the console", sock.string());
    if (pending.empty() && (detach || (!input_open && now_s() - output_at >= 1))) break;
    if (!pending.empty() && now_s() - progress_at > write_timeout_s)
      throw Error("nothing reads the node's serial console: what was typed has not been taken for " +
                      std::to_string(static_cast<int>(write_timeout_s)) + " s",
                  sock.string(), "wait until the node has booted, or raise --timeout");
    // Input is not read once it ended, after Ctrl-], or while the node lags behind (a fd of -1:
    // a pipe at its end would report POLLHUP for ever).
    const bool want_input = input_open && !detach && pending.size() < sizeof buf;
    pollfd p[2] = {{s.fd, static_cast<short>(POLLIN | (pending.empty() ? 0 : POLLOUT)), 0},
                   {want_input ? in_fd : -1, POLLIN, 0}};
    if (::poll(p, 2, 200) <= 0) continue;  // EINTR: the loop's top looks at the signal flag
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::read(s.fd, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        throw Error("the console closed", sock.string(), "is the VM still running?");
      if (n > 0) {
        output_at = now_s();
        if (!write_all(out_fd, std::string_view(buf, static_cast<size_t>(n))))
          throw Error("cannot write the node's output here", "standard output");
      }
    }
    if ((p[0].revents & POLLOUT) && !pending.empty()) {
      const ssize_t n = ::send(s.fd, pending.data(), pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        pending.erase(0, static_cast<size_t>(n));
        progress_at = now_s();
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        throw Error("the console closed", sock.string(), "is the VM still running?");
      }
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::read(in_fd, buf, sizeof buf);
      if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR))) {
        input_open = false;
        output_at = now_s();
      } else if (n > 0) {
        if (pending.empty()) progress_at = now_s();
        pending.append(buf, typed_to_send(std::string_view(buf, static_cast<size_t>(n)), detach));
      }
    }
  }
  say(term.active(), "grappe-build console: detached");
  return 0;
}

}  // namespace grappe::build
