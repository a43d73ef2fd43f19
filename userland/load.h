// This node's load as the cluster sees it: a MOSIX-style smoothed run-queue load that rises fast
// and decays slowly (so a brief lull does not invite migrations), memory, CPU count and a CPU
// speed calibrated by a short benchmark at start-up (the admin may override it).
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace grappe {

// The load a balancer can trust. Each job counts by its demand: how often one of its processes
// is runnable (state R, which includes waiting for a CPU), smoothed over a few seconds, so a
// CPU-bound job counts 1 however crowded the CPU is, and counts at once where it arrives and no
// more where it left. Everything else on the run queue (daemons, a migration's CRIU, a shell
// command) is background, smoothed slowly, so short bursts barely move the figure.
class LoadModel {
 public:
  // `runnable`: the node's run queue at `now`; `jobs`: runnable processes of each local job.
  void sample(double now, double runnable, const std::map<std::string, int>& jobs);
  double value() const;
  // A job's smoothed demand (0..its processes); 1 for a job not sampled yet.
  double demand(const std::string& id) const;
  double background() const { return background_; }

 private:
  std::map<std::string, double> demand_;
  double background_ = 0, last_ = -1;
};

struct SystemSample {
  double runnable = 0;  // procs_running (excluding the sampler itself)
  uint16_t cpus = 1;
  uint32_t mem_total_mb = 0;
  uint32_t mem_free_mb = 0;  // MemAvailable
};

// Reads /proc/stat and /proc/meminfo under `proc` (a fake tree in tests).
SystemSample read_system(const std::string& proc = "/proc");
// Relative single-core speed: work units per millisecond of a fixed integer loop (~50 ms).
uint32_t calibrate_speed();

}  // namespace grappe
