// How fast a job rewrites its memory, from the kernel's soft-dirty page bits (the ones CRIU's
// pre-copy tracks): clear them, wait, count the resident pages written meanwhile. Pre-copy uses
// it to skip rounds that cannot catch up with a job that rewrites most of its memory at once.
// The procfs root is a parameter so tests can use a fake one.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace grappe {

struct DirtyCount {
  uint64_t resident = 0;  // pages present in RAM, in the processes' writable private mappings
  uint64_t dirty = 0;     // of which soft-dirty (written since the bits were cleared)
};

// Clears the soft-dirty bits of every process (writes "4" to PROC/PID/clear_refs).
// False when one could not be cleared (the count would then mean nothing).
bool clear_soft_dirty(const std::string& proc, const std::vector<pid_t>& pids);

// Counts over each process's writable private mappings (PROC/PID/maps, PROC/PID/pagemap).
DirtyCount count_soft_dirty(const std::string& proc, const std::vector<pid_t>& pids);

// Share of the job's resident pages it writes in `seconds` (0..1), or -1 when procfs cannot
// tell (no soft-dirty support, the job gone): the caller then behaves as without the probe.
double dirty_share(const std::string& proc, pid_t init, double seconds);

}  // namespace grappe
