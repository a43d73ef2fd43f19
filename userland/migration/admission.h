// What a target checks of the machine before it takes a job: the CPU feature flags the job may
// use (a restored process keeps the instructions its libraries picked at start-up), and the
// memory it needs. Pure functions over /proc text, so tests feed them any machine.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace grappe {

// The CPU feature flags of this machine (/proc/cpuinfo's first "flags" line), sorted.
std::vector<std::string> cpu_flags(const std::string& cpuinfo_text);
// Those of `need` missing from `have`, in `need`'s order.
std::vector<std::string> missing_flags(const std::vector<std::string>& need, const std::vector<std::string>& have);
// MemAvailable from /proc/meminfo's text, in kB (0 when it is not there).
uint64_t mem_available_kb(const std::string& meminfo_text);

}  // namespace grappe
