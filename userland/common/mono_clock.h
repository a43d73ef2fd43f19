// The monotonic clock in seconds: what the loops, retry timers and timings compare against.
// Header-only; builder/ and initramfs/ may use it too.
#pragma once
#include <chrono>

namespace grappe {

// Seconds on the steady clock (arbitrary origin, never jumps with the wall clock).
inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace grappe
