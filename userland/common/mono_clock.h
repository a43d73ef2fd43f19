// The monotonic clock in seconds: what the loops, retry timers and timings compare against.
// Header-only; builder/ and initramfs/ may use it too.
#pragma once
#include <chrono>
#include <thread>

namespace grappe {

// Seconds on the steady clock (arbitrary origin, never jumps with the wall clock).
inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Sleeps `ms` milliseconds (the retry and polling loops' pause).
inline void nap(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

}  // namespace grappe
