// What a running job is and holds, read from procfs (the root is a parameter so tests can build a
// fake /proc): its processes, CPU time and resident memory, and whether it can move to another
// node — every open file must resolve at the same path everywhere (the shared /home, the image's
// own files under /usr, /etc and /opt opened read-only, a few character devices, pipes), it holds
// no sockets, and it does not work in node-local scratch.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace grappe {

struct JobUsage {
  double cpu_s = 0;
  uint64_t rss_kb = 0;
  int runnable = 0;  // processes in state R (running or waiting for a CPU)
};

// The fields of a /proc stat line after the command name (which may hold spaces and
// parentheses): [0] is field 3 (state), [k] is field k + 3. Empty for a line without one.
std::vector<std::string> stat_fields(const std::string& stat);
// The namespace init and all its descendants.
std::vector<pid_t> job_processes(const std::string& proc, pid_t init);
JobUsage job_usage(const std::string& proc, const std::vector<pid_t>& pids);
// Empty when the job can move; else the first reason, e.g. "holds node-local file /tmp/x (pid 2, fd 3)".
// A file under /usr, /etc or /opt read and not written is the image's own, the same on every
// node, unless this node changed or created it: then it is in the RAM layer `upper` (the root
// overlay's upperdir, which grappe-init mounts; /etc/hostname, /etc/machine-id, an admin's file).
std::string why_not_movable(const std::string& proc, const std::vector<pid_t>& pids,
                            const std::vector<std::string>& shared = {"/home/"},
                            const std::string& upper = "/run/grappe/rw/upper");

}  // namespace grappe
