// A node's CPU speed figure (single core, relative: work units per ms × 10 of a fixed integer
// loop), stable enough that identical nodes agree within a few percent: each calibration is the
// fastest of several short runs (a run that a busy moment or the host's scheduler slowed does not
// count), and the figure published is the median of the last calibrations taken while the
// node was idle (the one at start-up, while the node boots, counts only until then). The CPU and
// its clock are a seam, so tests drive it with a fake.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>

namespace grappe {

class CalibrationCpu {
 public:
  virtual ~CalibrationCpu() = default;
  virtual double now_ms() = 0;  // a monotonic clock
  virtual void spin() = 0;      // one unit of work: 10,000 rounds of a 64-bit LCG
};

// Units per ms × 10 over one run of about `ms`.
uint32_t calibrate_once(CalibrationCpu& cpu, double ms);
// The fastest of `runs` runs: a busy moment or the host's scheduler only ever slows a run down.
uint32_t calibrate_best(CalibrationCpu& cpu, int runs = 5, double ms = 30);
// On this machine's CPU and steady clock.
uint32_t calibrate_speed();

class SpeedEstimate {
 public:
  static constexpr size_t kKeep = 5;
  explicit SpeedEstimate(uint32_t at_start = 1000) : start_(at_start) {}
  void idle_sample(uint32_t s);  // a calibration taken while the node was idle
  uint32_t value() const;        // median of the idle ones kept, else the start-up figure
  size_t idle_samples() const { return idle_.size(); }

 private:
  uint32_t start_;
  std::deque<uint32_t> idle_;
};

}  // namespace grappe
