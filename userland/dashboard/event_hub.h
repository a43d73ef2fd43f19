// The dashboard's live stream (#27): server-sent events, every event to every watching browser.
// Each client has a bounded queue: one that falls more than kMaxQueued bytes behind is dropped (its
// stream ends; the page reconnects and starts again from a fresh snapshot) rather than its queue
// growing. At most kMaxClients watch one node at once; more are refused.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace grappe {

// One SSE frame: "event: TYPE\ndata: DATA\n\n". A type outside [a-z-] and any line break in the
// data are replaced (a frame can never be split or forged by what it carries).
std::string sse_frame(const std::string& type, const std::string& data);

class EventHub {
 public:
  static constexpr size_t kMaxQueued = 256 * 1024, kMaxClients = 64;

  uint64_t subscribe();  // a new client's id; 0 when kMaxClients watch already
  void unsubscribe(uint64_t id);
  void publish(const std::string& type, const std::string& data);
  // What is queued for this client, waiting up to `timeout` for something: "" when nothing came
  // (the caller sends a keep-alive), nullopt once the client was dropped (or is unknown).
  std::optional<std::string> take(uint64_t id, std::chrono::milliseconds timeout);
  size_t clients() const;
  uint64_t dropped() const;
  void close_all();  // every stream ends now, and no new one starts (the server stops)
  void reopen();     // streams may start again (the server starts)

 private:
  struct Client {
    std::string queued;
    bool dropped = false;
  };
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Client> clients_;
  uint64_t next_ = 1, dropped_ = 0;
  bool closed_ = false;  // close_all: no new client
};

}  // namespace grappe
