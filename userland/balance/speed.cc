#include "balance/speed.h"

#include <algorithm>
#include <chrono>
#include <vector>

namespace grappe {

uint32_t calibrate_once(CalibrationCpu& cpu, double ms) {
  uint64_t units = 0;
  const double t0 = cpu.now_ms();
  double elapsed = 0;
  while ((elapsed = cpu.now_ms() - t0) < ms) {
    cpu.spin();
    ++units;
  }
  return static_cast<uint32_t>(std::max(1.0, static_cast<double>(units) / std::max(elapsed, 1e-6) * 10));
}

uint32_t calibrate_best(CalibrationCpu& cpu, int runs, double ms) {
  std::vector<uint32_t> v;
  for (int i = 0; i < std::max(1, runs); ++i) v.push_back(calibrate_once(cpu, ms));
  return *std::max_element(v.begin(), v.end());  // a disturbance only ever slows a run down
}

namespace {
class RealCpu final : public CalibrationCpu {
 public:
  double now_ms() override {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  void spin() override {
    uint64_t x = ++n_;
    for (int i = 0; i < 10000; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    sink_ = sink_ + x;
  }

 private:
  uint64_t n_ = 0;
  volatile uint64_t sink_ = 0;
};
}  // namespace

uint32_t calibrate_speed() {
  RealCpu cpu;
  return calibrate_best(cpu);
}

void SpeedEstimate::idle_sample(uint32_t s) {
  if (!s) return;
  idle_.push_back(s);
  while (idle_.size() > kKeep) idle_.pop_front();
}

uint32_t SpeedEstimate::value() const {
  if (idle_.empty()) return start_;
  std::vector<uint32_t> v(idle_.begin(), idle_.end());
  std::sort(v.begin(), v.end());
  // An even count: the lower middle (a figure actually measured).
  return v[(v.size() - 1) / 2];
}

}  // namespace grappe
