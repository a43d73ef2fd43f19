// A job's init process, named so it cannot be mistaken for another: a pidfd (Linux 5.3) signals
// exactly that process even after its pid is reused, and turns readable when it exits, whether or
// not grapped is its parent. Its start time tells, after grapped restarts, whether a recorded pid
// still belongs to the job.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>

namespace grappe {

// A pidfd for `pid` (close-on-exec), or -1 (no such process, or a kernel without pidfds).
int pidfd_of(pid_t pid);
// Field 22 of /proc/PID/stat, clock ticks after boot; 0 when the process is gone.
uint64_t process_start_ticks(const std::string& proc, pid_t pid);
// Sends `sig` through the pidfd when there is one, else by pid. 0 or an errno value.
int signal_process(int pidfd, pid_t pid, int sig);
// True once the process behind `pidfd` has exited (pidfds poll readable then).
bool pidfd_exited(int pidfd);
// The exit status grappe-job-init wrote to `path` (0-255), or -1 when it wrote none.
int read_exit_status(const std::string& path);

}  // namespace grappe
