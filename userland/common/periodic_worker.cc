#include "common/periodic_worker.h"

#include <stdexcept>

#include "common/mono_clock.h"

namespace grappe {

PeriodicWorker::~PeriodicWorker() { stop(); }

void PeriodicWorker::start(std::chrono::milliseconds period, Step step) {
  std::lock_guard<std::mutex> l(mu_);
  if (thread_.joinable() || stopping_)
    throw std::logic_error("PeriodicWorker::start: the worker is already running (or still stopping)");
  thread_ = std::thread([this, period, step = std::move(step)] { loop(period, step); });
}

void PeriodicWorker::loop(std::chrono::milliseconds period, const Step& step) {
  std::unique_lock<std::mutex> l(mu_);
  while (!stopping_) {
    l.unlock();
    step(now_s());
    l.lock();
    wake_.wait_for(l, period, [this] { return stopping_; });
  }
}

void PeriodicWorker::stop() {
  std::thread t;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
    t = std::move(thread_);
  }
  wake_.notify_all();
  t.join();
  std::lock_guard<std::mutex> l(mu_);
  stopping_ = false;  // start() may run it again
}

bool PeriodicWorker::running() const {
  std::lock_guard<std::mutex> l(mu_);
  return thread_.joinable();
}

}  // namespace grappe
