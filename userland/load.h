// This node's load as the cluster sees it: a MOSIX-style smoothed run-queue load that rises fast
// and decays slowly (so a brief lull does not invite migrations), memory, CPU count and a CPU
// speed calibrated by a short benchmark at start-up (the admin may override it).
#pragma once
#include <cstdint>
#include <string>

namespace grappe {

class LoadSmoother {
 public:
  // `runnable` processes sampled `dt` seconds after the previous sample.
  void sample(double runnable, double dt);
  double value() const { return value_; }
  // Jobs left or arrived (migration): adjust at once rather than wait for the samples to decay.
  void shift(double delta) { value_ = value_ + delta > 0 ? value_ + delta : 0; }

 private:
  double value_ = 0;
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
