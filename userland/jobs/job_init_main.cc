// grappe-job-init: pid 1 of a job's own PID namespace (the unit CRIU dumps and restores).
// grapped clones it with CLONE_NEWPID; it leads its session, starts the command as pid 2,
// forwards every catchable signal to it (an init ignores signals it has no handler for, so
// without this Ctrl-C and `grappe kill` would not reach a plain program), reaps orphans, and
// exits with the command's status — 128+N when the command died of signal N, as a shell says.
// With --status-file PATH it also writes that status to PATH (a file grapped made for it) just
// before exiting: grapped is not always its parent (a restarted grapped adopts jobs it did not
// start, and only the parent can wait for an exit status), so the status must outlive the process.
// The file is opened only then, by name: a checkpoint of the job holds no descriptor to it.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

namespace {

volatile pid_t g_child = -1;
const char* g_status_file = nullptr;

void forward(int sig) {
  if (g_child > 0) ::kill(g_child, sig);
}

int finish(int status) {
  if (g_status_file) {
    int fd = ::open(g_status_file, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
      char line[16];
      int n = std::snprintf(line, sizeof line, "%d\n", status);
      (void)!::write(fd, line, static_cast<size_t>(n));
      ::close(fd);
    }
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 4 && std::strcmp(argv[1], "--status-file") == 0 && std::strcmp(argv[3], "--") == 0) {
    g_status_file = argv[2];
    argv += 3;
    argc -= 3;
  }
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0) {
    std::fprintf(stderr, "usage: grappe-job-init [--status-file PATH --] CMD [ARGS...]\n"
                         "Runs CMD as the only child of a job namespace's init. Started by grapped for "
                         "`grappe run`; not meant to be run by hand.\n");
    return argc < 2 ? 2 : 0;
  }
  if (::getpid() != 1) std::fprintf(stderr, "grappe-job-init: warning: not pid 1 of a PID namespace\n");
  ::setsid();  // may fail if grapped already made us a session leader: fine
  sigset_t all, old;
  sigfillset(&all);
  ::sigprocmask(SIG_BLOCK, &all, &old);  // no signal between fork and recording the child
  pid_t child = ::fork();
  if (child < 0) {
    std::fprintf(stderr, "grappe-job-init: fork: %s\n", std::strerror(errno));
    return finish(126);
  }
  if (child == 0) {
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    ::execvp(argv[1], argv + 1);
    std::fprintf(stderr, "grappe: cannot run %s: %s\n", argv[1], std::strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }
  g_child = child;
  struct sigaction sa {};
  sa.sa_handler = forward;
  sa.sa_flags = SA_RESTART;
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD) ::sigaction(sig, &sa, nullptr);
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  for (;;) {
    int status = 0;
    pid_t p = ::waitpid(-1, &status, 0);
    if (p < 0) {
      if (errno == EINTR) continue;
      return finish(126);  // no children left without seeing ours: cannot happen
    }
    if (p != child) continue;  // an orphan reaped
    return finish(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
}
