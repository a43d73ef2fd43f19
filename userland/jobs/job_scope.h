// Where a job's processes live in the cgroup tree: the seam between starting a job and systemd.
// On a node, each job (its grappe-job-init and everything under it) gets its own transient scope,
// grappe-job-<id>.scope in grappe-jobs.slice, made through systemd's D-Bus API before the job runs
// its first instruction. It is then outside grapped.service's cgroup: stopping, killing or
// restarting grapped never signals a job. Without systemd (a test namespace, a container) jobs
// stay where grapped is, and the reason is logged once. Tests substitute a fake.
#pragma once
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace grappe {

class JobScope {
 public:
  virtual ~JobScope() = default;
  // Moves `pids` (a job's processes) into a new scope named after `scope_id`. "" when done, else
  // why not (the job still runs, in grapped's cgroup). Safe from any thread.
  virtual std::string place(const std::string& scope_id, const std::vector<pid_t>& pids) = 0;
};

// systemd's StartTransientUnit over the system bus; nullptr when this build has no libsystemd or
// no system bus answers (then `why` says which).
std::unique_ptr<JobScope> systemd_job_scope(std::string& why);

// The unit name of a job's scope: grappe-job-<id>.scope (ids are "<node>.<sequence>").
std::string job_scope_unit(const std::string& job_id);

}  // namespace grappe
