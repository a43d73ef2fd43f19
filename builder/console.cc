#include "console.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string_view>
#include <utility>

#include "common/mono_clock.h"
#include "common/text_file.h"
#include "console_text.h"
#include "error.h"
#include "process.h"

namespace grappe::build {
namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Milliseconds to wait for `deadline`, rounded up: 0 only once it has passed, so a wait that
// gives up has really reached the deadline (a rounded-down 0.9 ms used to end a read early and
// blame the next write).
int ms_until(double deadline) {
  const double left = deadline - now_s();
  return left <= 0 ? 0 : static_cast<int>(std::ceil(left * 1000));
}

void check_interrupted() {
  // Ctrl-C or a kill: the handler only sets a flag (process.h), so stop here.
  if (termination_requested()) throw Error("interrupted while talking to the console");
}

// Reads into `seen` until `done(seen)` or the deadline; false on timeout or a closed socket.
template <class Done>
bool read_until(int fd, std::string& seen, double deadline, Done done) {
  char buf[65536];
  while (!done(seen)) {
    const int left = ms_until(deadline);
    if (left <= 0) return false;
    check_interrupted();
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, std::min(left, 500)) <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return false;
    seen.append(buf, static_cast<size_t>(n));
  }
  return true;
}

enum class Wrote { All, Closed, Stuck };

// Writes `data` to the non-blocking socket by the deadline. A console that nobody reads (no
// shell, or a boot menu, on the node's serial port) fills QEMU's buffer and is Stuck.
Wrote write_until(int fd, std::string_view data, double deadline) {
  while (!data.empty()) {
    check_interrupted();
    const int left = ms_until(deadline);
    if (left <= 0) return Wrote::Stuck;
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, std::min(left, 500)) <= 0) continue;
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return Wrote::Closed;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Wrote::All;
}

// What the console printed, for an error message: what this connection saw, and what the serial
// log next to the socket (QEMU's logfile: everything since the VM started) last showed, such as
// a boot menu drawn before we connected.
std::string seen_report(const std::string& seen, const std::filesystem::path& sock) {
  std::filesystem::path log = sock;
  log.replace_extension(".log");
  const std::string history = read_text(log.string());
  const std::string state = console_state(history.empty() ? seen : history);
  std::string r = state.empty() ? "" : "the serial port last showed " + state + "; ";
  r += "it printed " + console_tail(seen) + " since we connected";
  if (!history.empty()) r += "; its serial log " + log.string() + " ends with " + console_tail(history, 160);
  return r;
}

void send_or_throw(int fd, const std::string& data, double deadline, const std::filesystem::path& sock,
                   const std::string& seen) {
  switch (write_until(fd, data, deadline)) {
    case Wrote::All:
      return;
    case Wrote::Closed:
      throw Error("the console closed", sock.string(), "is the VM still running?");
    case Wrote::Stuck:
      throw Error("nothing reads the node's serial console (QEMU stopped taking input); " + seen_report(seen, sock),
                  sock.string(), "wait until the node has booted (every boot entry has a shell on the serial port)");
  }
}

}  // namespace

std::string console_script(const std::string& cmd, const std::string& token) {
  // stdin from /dev/null: the command never eats the lines typed after it. Echo comes back at
  // the end, for whoever attaches to the console next (grappe-build console without a command).
  return "stty -echo 2>/dev/null; printf '\\n@@%s@@\\n' B" + token + "; ( " + cmd +
         " ) </dev/null 2>&1; printf '\\n@@%s@@ %d\\n' E" + token + " $?; stty echo 2>/dev/null\n";
}

bool console_parse(const std::string& raw, const std::string& token, std::string& output, int& status) {
  std::string seen = raw;  // the tty turns \n into \r\n
  seen.erase(std::remove(seen.begin(), seen.end(), '\r'), seen.end());
  const std::string begin = "@@B" + token + "@@\n", end = "\n@@E" + token + "@@ ";
  size_t b = seen.find(begin);
  if (b == std::string::npos) return false;
  b += begin.size();
  size_t e = seen.find(end, b);
  if (e == std::string::npos) return false;
  size_t nl = seen.find('\n', e + end.size());
  if (nl == std::string::npos) return false;
  try {
    status = std::stoi(seen.substr(e + end.size(), nl - e - end.size()));
  } catch (...) {
    return false;
  }
  output = seen.substr(b, e - b);
  return true;
}

std::string console_panic(const std::string& seen) {
  // The kernel ends every panic with this line; before it the panic may still be printing.
  static const std::string end = "---[ end Kernel panic - not syncing";
  const size_t e = seen.find(end);
  if (e == std::string::npos) return "";
  // The rest of the line from the last `what` that starts before `limit`.
  auto line_with = [&](const std::string& what, size_t limit) -> std::string {
    const size_t at = seen.rfind(what, limit);
    if (at == std::string::npos) return "";
    const size_t nl = std::min(seen.find_first_of("\r\n", at), limit);
    return seen.substr(at, nl - at);
  };
  std::string why = line_with("Kernel panic - not syncing", e);
  if (why.empty()) why = "Kernel panic";
  const size_t panic_at = seen.rfind("Kernel panic - not syncing", e);
  std::string oops = line_with("Oops: ", panic_at == std::string::npos ? e : panic_at);
  return oops.empty() ? why : oops + "; " + why;
}

int connect_console(const std::filesystem::path& sock, double deadline) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (sock.string().size() >= sizeof sa.sun_path) throw Error("console socket path too long", sock.string(), "use a shorter --dir");
  std::strncpy(sa.sun_path, sock.c_str(), sizeof sa.sun_path - 1);
  // A VM's socket appears within seconds of `grappe-build qemu` starting (after its KVM probe, at
  // most 15 s); a dead VM's stays refused, and its caller should hear so soon.
  deadline = std::min(deadline, now_s() + 30);
  bool said = false;
  for (;;) {
    Fd s;
    s.fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s.fd < 0) throw Error(std::string("cannot make a socket: ") + std::strerror(errno));
    if (::connect(s.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
      ::fcntl(s.fd, F_SETFL, ::fcntl(s.fd, F_GETFL) | O_NONBLOCK);
      return std::exchange(s.fd, -1);
    }
    // No socket yet, or nobody listening on it yet: a VM that is starting (a script may call this
    // right after starting `grappe-build qemu` in the background).
    const int err = errno;
    if ((err != ENOENT && err != ECONNREFUSED) || now_s() >= deadline)
      throw Error(std::string("cannot connect to the console: ") + std::strerror(err), sock.string(),
                  "is the VM running (grappe-build qemu) and is --dir/--node right?");
    if (!said && now_s() + 1 < deadline) {
      std::fprintf(stderr, "grappe-build console: waiting for %s (%s)\n", sock.c_str(), std::strerror(err));
      said = true;
    }
    check_interrupted();
    ::poll(nullptr, 0, std::min(ms_until(deadline), 200));
  }
}

int run_console(const std::filesystem::path& sock, const std::string& cmd, double timeout_s, std::string& output) {
  const double deadline = now_s() + timeout_s;
  Fd s;
  s.fd = connect_console(sock, deadline);
  std::mt19937_64 rng(std::random_device{}());
  const std::string tok = std::to_string(rng() % 1000000000000ull);
  // The shell may still be logging in: ask it to print a marker until it does.
  std::string seen;
  const std::string ready = "@@R" + tok + "@@";
  // Nothing is typed while a boot menu or the firmware is drawing on the port (keys there would
  // pick or edit an entry): a probe goes once the port shows something else, or falls quiet.
  // What the port shows now: the end of its serial log (QEMU's logfile, since the VM started),
  // then what this connection saw.
  std::filesystem::path log = sock;
  log.replace_extension(".log");
  std::string history = read_text(log.string());
  if (history.size() > 8192) history.erase(0, history.size() - 8192);
  double last_output = now_s();
  for (;;) {
    const std::string state = console_state(history + seen);
    const bool loader = state.find("menu") != std::string::npos || state.find("firmware") != std::string::npos;
    if (!loader || now_s() - last_output >= 3)
      send_or_throw(s.fd, "\nprintf '@@%s@@\\n' R" + tok + "\n", deadline, sock, seen);
    const size_t before = seen.size();
    if (read_until(s.fd, seen, std::min(deadline, now_s() + (loader ? 1 : 5)),
                   [&](const std::string& t) { return t.find(ready) != std::string::npos; }))
      break;
    if (seen.size() > before) last_output = now_s();
    if (now_s() >= deadline)
      throw Error("no shell answered on the console within " + std::to_string(static_cast<int>(timeout_s)) +
                      " s; " + seen_report(seen, sock),
                  sock.string(),
                  "has the node finished booting (raise --timeout)? Is another grappe-build console attached to it "
                  "(QEMU serves one at a time)?");
  }
  seen.clear();
  send_or_throw(s.fd, console_script(cmd, tok), deadline, sock, seen);
  int status = -1;
  std::string panic;
  const bool ended = read_until(s.fd, seen, deadline, [&](const std::string& t) {
    if (console_parse(t, tok, output, status)) return true;
    panic = console_panic(t);
    return !panic.empty();
  });
  if (!panic.empty())
    throw Error("the node's kernel panicked while running '" + cmd + "': " + panic, sock.string(),
                "the VM is dead: stop it and boot the cluster again; its serial log (next to the socket) has the trace");
  if (!ended)
    throw Error("'" + cmd + "' did not finish within " + std::to_string(static_cast<int>(timeout_s)) + " s", sock.string(),
                "raise --timeout, or look at the serial log");
  return status;
}

}  // namespace grappe::build
