// Room for peers that have not proved they hold the cluster key. A TCP connection to the migration
// port holds a thread until its handshake succeeds or times out (10 s); a host without the key can
// do nothing but open such connections, so the gate keeps it from holding them all: at most
// `per_source` handshakes pending from one address and `total` in all. A real peer, from another
// address, always finds room, and migrations are never starved by idle connections.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace grappe {

class HandshakeGate {
 public:
  explicit HandshakeGate(size_t per_source = 4, size_t total = 64) : per_source_(per_source), total_(total) {}
  // A connection from `source` may start its handshake; false: close it at once.
  bool enter(const std::string& source);
  // Its handshake is over (succeeded, failed or timed out).
  void leave(const std::string& source, bool authenticated);
  // {"pending", "refused" (closed at accept), "failed" (no valid handshake)} for grappe status.
  nlohmann::json stats() const;

 private:
  const size_t per_source_, total_;
  mutable std::mutex mu_;
  std::map<std::string, size_t> pending_;
  size_t all_ = 0;
  uint64_t refused_ = 0, failed_ = 0;
};

}  // namespace grappe
