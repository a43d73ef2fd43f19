// Starting a job: the seam between grapped's job bookkeeping and the kernel. The real spawner
// clones grappe-job-init as pid 1 of a new PID namespace (CLONE_NEWPID), session leader, no
// controlling terminal, with the caller's user, groups, nice value, environment and working directory, its
// stdout/stderr (and stdin when forwarded) on pipes to grapped. Tests substitute a fake.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "jobs/job_scope.h"

namespace grappe {

struct SpawnSpec {
  std::vector<std::string> argv;  // the command; argv[0] is looked up in the job's PATH
  std::vector<std::string> env;   // KEY=VALUE
  std::string cwd;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool pipe_stdin = false;  // else /dev/null
  int nice = 0;             // the caller's: grapped itself runs at a higher priority
  std::string init_path;    // grappe-job-init
  std::string job_id;       // names its scope (job_scope.h)
  std::string status_file;  // grappe-job-init --status-file: where its exit status is written
};

struct Spawned {
  pid_t pid = -1;
  int pidfd = -1;                   // refers to that process for good: no signal to a reused pid
  uint64_t start_ticks = 0;         // its start time (/proc/PID/stat field 22), to recognise it later
  int in = -1, out = -1, err = -1;  // grapped's ends (non-blocking, close-on-exec)
  std::string error;                // set when pid < 0: what failed and why
  std::string scope_error;          // the job runs, but not in a scope of its own: why
};

class Spawner {
 public:
  virtual ~Spawner() = default;
  virtual Spawned spawn(const SpawnSpec& spec) = 0;
};

// The child waits, before it runs grappe-job-init, until `scope` (if any) has moved it into
// the job's own cgroup: everything the job starts is then born there.
class CloneSpawner final : public Spawner {
 public:
  Spawned spawn(const SpawnSpec& spec) override;
  JobScope* scope = nullptr;
};

}  // namespace grappe
