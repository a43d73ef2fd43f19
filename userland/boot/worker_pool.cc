#include "boot/worker_pool.h"

#include <algorithm>

namespace grappe {

WorkerPool::WorkerPool(size_t max_workers) : max_(std::max<size_t>(1, max_workers)) {}
WorkerPool::~WorkerPool() { shutdown(); }

void WorkerPool::enqueue(std::function<void()> fn) {
  std::lock_guard<std::mutex> l(mu_);
  if (stopping_) return;
  queue_.push_back(std::move(fn));
  if (idle_ < queue_.size() && threads_.size() < max_) {
    ++idle_;  // counted idle until it takes its first task
    threads_.emplace_back([this] { work(); });
  }
  cv_.notify_one();
}

void WorkerPool::work() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    auto fn = std::move(queue_.front());
    queue_.pop_front();
    --idle_, ++busy_;
    peak_ = std::max(peak_, busy_);
    l.unlock();
    fn();
    l.lock();
    --busy_, ++idle_;
  }
}

void WorkerPool::shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) t.join();
}

WorkerPoolStats WorkerPool::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return {threads_.size(), busy_, queue_.size(), peak_};
}

}  // namespace grappe
