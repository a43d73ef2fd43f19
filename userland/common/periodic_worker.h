// A background thread that runs one step at a fixed period until it is stopped: the worker of the
// home share and of the boot service. stop() (and the destructor) wakes the sleep at once and
// joins, so an owner that stops its worker first in its destructor is never used after it dies.
#pragma once
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace grappe {

class PeriodicWorker {
 public:
  // The step gets now_s() (the monotonic clock in seconds) at the start of each pass.
  using Step = std::function<void(double now)>;

  PeriodicWorker() = default;
  ~PeriodicWorker();  // stop()
  PeriodicWorker(const PeriodicWorker&) = delete;
  PeriodicWorker& operator=(const PeriodicWorker&) = delete;

  // Runs step now, then `period` after the end of each pass. Throws std::logic_error when
  // already running. A step that throws ends the process (std::terminate), as any thread would.
  void start(std::chrono::milliseconds period, Step step);
  // Wakes the worker and waits for a step in progress to finish; idempotent. Not from the step.
  void stop();
  bool running() const;

 private:
  void loop(std::chrono::milliseconds period, const Step& step);

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace grappe
