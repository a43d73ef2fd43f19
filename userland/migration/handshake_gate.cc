#include "migration/handshake_gate.h"

namespace grappe {

bool HandshakeGate::enter(const std::string& source) {
  std::lock_guard<std::mutex> l(mu_);
  size_t& mine = pending_[source];
  if (mine >= per_source_ || all_ >= total_) {
    if (mine == 0) pending_.erase(source);
    ++refused_;
    return false;
  }
  ++mine, ++all_;
  return true;
}

void HandshakeGate::leave(const std::string& source, bool authenticated) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = pending_.find(source);
  if (it == pending_.end()) return;
  if (--it->second == 0) pending_.erase(it);
  --all_;
  if (!authenticated) ++failed_;
}

nlohmann::json HandshakeGate::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return {{"pending", all_}, {"refused", refused_}, {"failed", failed_}};
}

}  // namespace grappe
