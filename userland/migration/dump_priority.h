// A job's CPU priority around its final dump. CRIU's parasite code dumps the job's memory from
// inside the job's own tasks, at the job's priority: on a node busy with other jobs it gets only
// its share of the CPU, and the job stays frozen that much longer. The source raises the job's
// tasks to `kDumpNice` for the dump (and puts them back if the job stays); CRIU records that nice
// value, so the target sets the restored tasks back to the value the offer carried.
// Only a job whose tasks all share one nice value is raised (the offer carries one number).
// The procfs root and the setter are parameters so tests can use fakes.
#pragma once
#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace grappe {

constexpr int kDumpNice = -10;

// Sets one thread's nice value; false on failure (setpriority(2) by default).
using NiceSetter = std::function<bool(pid_t tid, int nice)>;
bool set_thread_nice(pid_t tid, int nice);

// The nice value every thread of the processes has (PROC/PID/task/TID/stat, field 19), or none
// when they differ, or a process cannot be read.
std::optional<int> common_nice(const std::string& proc, const std::vector<pid_t>& pids);

// Sets every thread of the processes to `nice`; the number of threads set.
int set_job_nice(const std::string& proc, const std::vector<pid_t>& pids, int nice,
                 const NiceSetter& set = set_thread_nice);

// The target's side: the nice value to give a restored job from its offer ("nice", "uid"), or none
// when the offer carries none (the source did not raise it). Clamped to 19 and, for anyone but
// root, to 0 (an offer is authenticated, but no reason to give a user's job more than it had).
std::optional<int> nice_after_restore(const nlohmann::json& offer);

}  // namespace grappe
