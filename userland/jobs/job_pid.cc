#include "jobs/job_pid.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "common/text_file.h"
#include "jobs/job_inspect.h"

namespace grappe {

// glibc 2.36's pidfd wrappers lack C linkage in C++; the raw system calls do the same.
int pidfd_of(pid_t pid) {
  if (pid <= 0) return -1;
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));  // pidfds are close-on-exec
}

uint64_t process_start_ticks(const std::string& proc, pid_t pid) {
  const auto f = stat_fields(read_text(proc + "/" + std::to_string(pid) + "/stat"));
  if (f.size() <= 19) return 0;
  uint64_t v = 0;
  for (char c : f[19]) {  // field 22
    if (c < '0' || c > '9') return 0;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

int signal_process(int pidfd, pid_t pid, int sig) {
  if (pidfd >= 0) return ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0 ? 0 : errno;
  return ::kill(pid, sig) == 0 ? 0 : errno;
}

bool pidfd_exited(int pidfd) {
  if (pidfd < 0) return false;
  pollfd p{pidfd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

// The file belongs to the job's user, who may have made it huge or a FIFO: a regular file only,
// and 16 bytes at most are read.
int read_exit_status(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st {};
  char buf[16];
  ssize_t n = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? ::read(fd, buf, sizeof buf) : -1;
  ::close(fd);
  if (n <= 0 || n > 8) return -1;
  int v = 0, digits = 0;
  for (char c : std::string(buf, static_cast<size_t>(n))) {
    if (c == '\n') break;
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0'), ++digits;
  }
  return digits > 0 && v <= 255 ? v : -1;
}

}  // namespace grappe
