// This node's load as the cluster sees it: a MOSIX-style smoothed run-queue load that rises fast
// and decays slowly (so a brief lull does not invite migrations), memory and CPU count (the CPU speed
// figure is speed.h's).
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace grappe {

// The load a balancer can trust. Each job counts by its demand: how often one of its processes
// is runnable (state R, which includes waiting for a CPU), smoothed over a few seconds, so a
// CPU-bound job counts 1 however crowded the CPU is, and counts at once where it arrives and no
// more where it left. Everything else (daemons, a migration's CRIU, a shell command) counts by
// the CPU it really uses, smoothed slowly: on a crowded CPU a process that wants 10% of it is
// runnable far more often than that, so its run-queue presence would overstate it.
class LoadModel {
 public:
  struct JobSample {
    int runnable = 0;  // the job's processes in state R
    double cpu_s = 0;  // their CPU time so far
  };
  // `busy_s`: the node's CPU time so far, all CPUs, not idle (/proc/stat).
  void sample(double now, double busy_s, const std::map<std::string, JobSample>& jobs);
  double value() const;
  // A job's smoothed demand (0..its processes); 1 for a job not sampled yet.
  double demand(const std::string& id) const;
  double background() const { return background_; }

 private:
  std::map<std::string, double> demand_;
  std::map<std::string, double> cpu_;
  double background_ = 0, last_ = -1, busy_ = 0;
};

struct SystemSample {
  double runnable = 0;  // procs_running (excluding the sampler itself)
  double busy_s = 0;    // CPU time not idle since boot, all CPUs
  uint16_t cpus = 1;
  uint32_t mem_total_mb = 0;
  uint32_t mem_free_mb = 0;  // MemAvailable
};

// Reads /proc/stat and /proc/meminfo under `proc` (a fake tree in tests).
SystemSample read_system(const std::string& proc = "/proc");

}  // namespace grappe
