#include "common/command_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include "common/text_file.h"

namespace grappe {

std::string run_checked(CommandRunner& run, const std::vector<std::string>& argv, double timeout_s, std::string* out) {
  CommandResult r = run.run(argv, timeout_s);
  if (out) *out = r.output;
  if (r.status == 0) return "";
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  return "'" + cmd + "' failed (status " + std::to_string(r.status) + "): " + first_line(r.output);
}

CommandResult ProcessRunner::run(const std::vector<std::string>& argv, double timeout_s) {
  CommandResult r;
  if (argv.empty()) return r;
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return r;
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(p[0]), ::close(p[1]);
    return r;
  }
  if (pid == 0) {
    ::dup2(p[1], 1);
    ::dup2(p[1], 2);
    int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(p[1]);
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::duration<double>(timeout_s);
  bool timed_out = false;
  for (;;) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count());
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd f{p[0], POLLIN, 0};
    if (::poll(&f, 1, left) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n <= 0) break;
    if (r.output.size() < 65536) r.output.append(buf, static_cast<size_t>(n));
  }
  ::close(p[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int st = 0;
  ::waitpid(pid, &st, 0);
  r.status = timed_out ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  if (timed_out) r.output += "\n(timed out after " + std::to_string(static_cast<int>(timeout_s)) + " s)";
  return r;
}

}  // namespace grappe
