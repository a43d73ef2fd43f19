#include "jobs/job_spawn.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>

#include "jobs/job_pid.h"

namespace grappe {
namespace {

struct ChildArgs {
  const SpawnSpec* spec;
  int in, out, err, go;
  std::vector<char*> argv, envp;
};

Spawned failed(const std::string& why) {
  Spawned r;
  r.error = why;
  return r;
}

[[noreturn]] void die(int err_fd, const char* what) {
  std::string msg = std::string("grappe: cannot start the job: ") + what + ": " + std::strerror(errno) + "\n";
  (void)!::write(err_fd, msg.data(), msg.size());
  _exit(126);
}

int child_main(void* p) {
  auto* a = static_cast<ChildArgs*>(p);
  // We are pid 1 of the new namespace. Restore default signal handling grapped may have changed.
  for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (::setsid() < 0) die(a->err, "setsid");
  if (::dup2(a->in, 0) < 0 || ::dup2(a->out, 1) < 0 || ::dup2(a->err, 2) < 0) die(a->err, "dup2");
  // Wait for grapped to have placed us in the job's scope (one byte; none: it gave up on us).
  char go = 0;
  ssize_t got;
  do got = ::read(a->go, &go, 1);
  while (got < 0 && errno == EINTR);
  if (got != 1) _exit(126);
  // Nothing but stdio reaches the job: a descriptor grapped inherited from whoever started it
  // would otherwise leak into every job (and pin it to this node).
  ::close_range(3, ~0U, 0);
  // grapped runs at nice -10 (grapped.service) so migrations stay quick on a busy node; the job
  // gets its caller's priority back.
  if (::setpriority(PRIO_PROCESS, 0, a->spec->nice) != 0) die(2, "setpriority");
  if (::setgroups(a->spec->groups.size(), a->spec->groups.data()) != 0 && errno != EPERM) die(2, "setgroups");
  if (::setgid(a->spec->gid) != 0) die(2, "setgid");
  if (::setuid(a->spec->uid) != 0) die(2, "setuid");
  // Only now, as the caller: the working directory comes from the request, and a directory the
  // caller may not enter (another user's 0700 home) must fail the job, not open to root's rights.
  if (::chdir(a->spec->cwd.c_str()) != 0) die(2, ("chdir " + a->spec->cwd).c_str());
  ::execve(a->spec->init_path.c_str(), a->argv.data(), a->envp.data());
  die(2, ("exec " + a->spec->init_path).c_str());
}

}  // namespace

Spawned CloneSpawner::spawn(const SpawnSpec& spec) {
  Spawned r;
  int pin[2] = {-1, -1}, pout[2], perr[2];
  if (::pipe2(pout, O_CLOEXEC) != 0) return failed(std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(perr, O_CLOEXEC) != 0) {
    ::close(pout[0]), ::close(pout[1]);
    return failed(std::string("pipe: ") + std::strerror(errno));
  }
  if (spec.pipe_stdin) {
    if (::pipe2(pin, O_CLOEXEC) != 0) pin[0] = pin[1] = -1;
  } else {
    pin[0] = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  int go[2];
  if (::pipe2(go, O_CLOEXEC) != 0) {
    for (int fd : {pin[0], pin[1], pout[0], pout[1], perr[0], perr[1]})
      if (fd >= 0) ::close(fd);
    return failed(std::string("pipe: ") + std::strerror(errno));
  }
  ChildArgs a{&spec, pin[0], pout[1], perr[1], go[0], {}, {}};
  std::string init_name = "grappe-job-init", status_opt = "--status-file", dashes = "--";
  a.argv.push_back(init_name.data());
  if (!spec.status_file.empty()) {
    a.argv.push_back(status_opt.data());
    a.argv.push_back(const_cast<char*>(spec.status_file.c_str()));
    a.argv.push_back(dashes.data());
  }
  for (const auto& s : spec.argv) a.argv.push_back(const_cast<char*>(s.c_str()));
  a.argv.push_back(nullptr);
  for (const auto& s : spec.env) a.envp.push_back(const_cast<char*>(s.c_str()));
  a.envp.push_back(nullptr);

  constexpr size_t kStack = 256 * 1024;
  auto stack = std::make_unique<char[]>(kStack);
  pid_t pid = ::clone(child_main, stack.get() + kStack, CLONE_NEWPID | SIGCHLD, &a);
  int saved = errno;
  for (int fd : {pin[0], pout[1], perr[1], go[0]})
    if (fd >= 0) ::close(fd);
  if (pid < 0) {
    for (int fd : {pin[1], pout[0], perr[0], go[1]})
      if (fd >= 0) ::close(fd);
    r.error = std::string("clone(CLONE_NEWPID): ") + std::strerror(saved) + " (grapped must run as root)";
    return r;
  }
  r.pidfd = pidfd_of(pid);
  r.start_ticks = process_start_ticks("/proc", pid);
  if (scope) r.scope_error = scope->place(spec.job_id, {pid});
  (void)!::write(go[1], "g", 1);
  ::close(go[1]);
  for (int fd : {pin[1], pout[0], perr[0]})
    if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  r.pid = pid;
  r.in = pin[1];
  r.out = pout[0];
  r.err = perr[0];
  return r;
}

}  // namespace grappe
