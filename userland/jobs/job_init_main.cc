// grappe-job-init: pid 1 of a job's own PID namespace (the unit CRIU dumps and restores).
// grapped clones it with CLONE_NEWPID; it leads its session, starts the command as pid 2,
// forwards every catchable signal to it (an init ignores signals it has no handler for, so
// without this Ctrl-C and `grappe kill` would not reach a plain program), reaps orphans, and
// exits with the command's status — 128+N when the command died of signal N, as a shell says.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

namespace {

volatile pid_t g_child = -1;

void forward(int sig) {
  if (g_child > 0) ::kill(g_child, sig);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0) {
    std::fprintf(stderr, "usage: grappe-job-init CMD [ARGS...]\n"
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
    return 126;
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
      return 126;  // no children left without seeing ours: cannot happen
    }
    if (p != child) continue;  // an orphan reaped
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
  }
}
