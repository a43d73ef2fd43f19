// The boot HTTP server's workers: cpp-httplib (0.11 as Debian packages it) hands each accepted
// connection to a task queue, and a connection holds its worker until it is closed. A fixed pool
// of 32 let 300 idle connections from one host hold every worker while a real PC's fetch waited
// behind them. This pool starts a worker per connection up to `max_workers` (kept afterwards, so
// a room booting at once pays for its threads once), queues the rest in arrival order, and counts
// for `grappe boot-server status --json`. Idle connections are closed by the server's timeouts
// (boot_http.cc), so each frees its worker within seconds.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace grappe {

struct WorkerPoolStats {
  size_t workers = 0, busy = 0, queued = 0, peak_busy = 0;
};

class WorkerPool {
 public:
  explicit WorkerPool(size_t max_workers);
  ~WorkerPool();  // shutdown()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  // Runs `fn` on an idle worker, on a new one while fewer than max_workers exist, else queued.
  void enqueue(std::function<void()> fn);
  // Runs what is queued, then joins every worker. enqueue after shutdown runs nothing.
  void shutdown();
  WorkerPoolStats stats() const;

 private:
  void work();
  const size_t max_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0, busy_ = 0, peak_ = 0;
  bool stopping_ = false;
};

}  // namespace grappe
