#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "common/mono_clock.h"
#include "common/periodic_worker.h"

using namespace grappe;
using namespace std::chrono_literals;

TEST_CASE("PeriodicWorker runs its step at once and then periodically, with the monotonic clock") {
  std::atomic<int> steps{0};
  std::atomic<double> first{0}, last{0};
  const double t0 = now_s();
  PeriodicWorker w;
  w.start(20ms, [&](double now) {
    if (steps == 0) first = now;
    last = now;
    ++steps;
  });
  CHECK(w.running());
  for (int i = 0; i < 200 && steps < 5; ++i) std::this_thread::sleep_for(10ms);
  w.stop();
  CHECK(!w.running());
  CHECK(steps >= 5);
  CHECK(first >= t0);
  CHECK(first - t0 < 1.0);                         // the first step does not wait a period
  CHECK(last - first >= 0.02 * (steps - 1) * 0.9);  // then one per period, not in a burst
  const int after = steps;
  std::this_thread::sleep_for(60ms);
  CHECK(steps == after);  // nothing runs once stopped
}

TEST_CASE("PeriodicWorker stops promptly in the middle of a long period, and from its destructor") {
  std::atomic<int> steps{0};
  auto t0 = std::chrono::steady_clock::now();
  {
    PeriodicWorker w;
    w.start(std::chrono::hours(1), [&](double) { ++steps; });
    for (int i = 0; i < 200 && steps == 0; ++i) std::this_thread::sleep_for(5ms);
  }  // the destructor stops and joins
  CHECK(steps == 1);
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}

TEST_CASE("PeriodicWorker waits for a step in progress, refuses a second start, and can start again") {
  std::atomic<bool> in_step{false}, finished{false};
  PeriodicWorker w;
  w.start(1h, [&](double) {
    in_step = true;
    std::this_thread::sleep_for(50ms);
    finished = true;
  });
  for (int i = 0; i < 200 && !in_step; ++i) std::this_thread::sleep_for(5ms);
  CHECK_THROWS_AS(w.start(1h, [](double) {}), std::logic_error);
  w.stop();
  CHECK(finished);  // stop() returned only after the step ended
  w.stop();         // idempotent
  std::atomic<int> again{0};
  w.start(1h, [&](double) { ++again; });
  for (int i = 0; i < 200 && again == 0; ++i) std::this_thread::sleep_for(5ms);
  w.stop();
  CHECK(again == 1);
}
