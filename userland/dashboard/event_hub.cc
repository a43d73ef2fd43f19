#include "dashboard/event_hub.h"

namespace grappe {

std::string sse_frame(const std::string& type, const std::string& data) {
  std::string t = type.empty() ? "message" : type;
  for (char& c : t)
    if (!((c >= 'a' && c <= 'z') || c == '-')) c = '-';
  std::string d = data;
  for (char& c : d)
    if (c == '\n' || c == '\r') c = ' ';
  return "event: " + t + "\ndata: " + d + "\n\n";
}

uint64_t EventHub::subscribe() {
  std::lock_guard<std::mutex> l(mu_);
  if (closed_) return 0;
  size_t live = 0;
  for (const auto& [id, c] : clients_) live += !c.dropped;
  if (live >= kMaxClients) return 0;
  clients_[next_] = {};
  return next_++;
}

void EventHub::unsubscribe(uint64_t id) {
  std::lock_guard<std::mutex> l(mu_);
  clients_.erase(id);
}

void EventHub::publish(const std::string& type, const std::string& data) {
  const std::string frame = sse_frame(type, data);
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [id, c] : clients_) {
      if (c.dropped) continue;
      // A client with nothing queued takes any frame (one large state must not drop everyone).
      if (!c.queued.empty() && c.queued.size() + frame.size() > kMaxQueued) {
        c.dropped = true, c.queued.clear(), c.queued.shrink_to_fit();
        ++dropped_;
        continue;
      }
      c.queued += frame;
    }
  }
  cv_.notify_all();
}

std::optional<std::string> EventHub::take(uint64_t id, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> l(mu_);
  auto ready = [&] {
    auto it = clients_.find(id);
    return it == clients_.end() || it->second.dropped || !it->second.queued.empty();
  };
  cv_.wait_for(l, timeout, ready);
  auto it = clients_.find(id);
  if (it == clients_.end() || it->second.dropped) return std::nullopt;
  std::string out;
  out.swap(it->second.queued);
  return out;
}

void EventHub::close_all() {
  {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
    for (auto& [id, c] : clients_) c.dropped = true, c.queued.clear();
  }
  cv_.notify_all();
}

void EventHub::reopen() {
  std::lock_guard<std::mutex> l(mu_);
  closed_ = false;
}

size_t EventHub::clients() const {
  std::lock_guard<std::mutex> l(mu_);
  size_t live = 0;
  for (const auto& [id, c] : clients_) live += !c.dropped;
  return live;
}

uint64_t EventHub::dropped() const {
  std::lock_guard<std::mutex> l(mu_);
  return dropped_;
}

}  // namespace grappe
