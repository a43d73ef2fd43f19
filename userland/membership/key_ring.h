// The cluster's operating key and its epoch, as this node holds them, shared by the event loop
// (UDP packets) and the migration threads (peer links). A rekey (`grappe cluster rekey`, `grappe
// node forget`) hands every live member the next epoch's key; each member first *accepts* it
// (stage), then *sends* with it once it hears it in use or after a pause (commit), and accepts the
// old one a grace period more, so no member is declared dead while the key changes. Thread-safe.
#pragma once
#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "membership/wire.h"

namespace grappe {

struct KeyEpoch {
  uint32_t epoch = 0;
  ClusterKey key{};
};

class KeyRing {
 public:
  // Members commit within about a second of each other (each on hearing the first packet under
  // the new key); the old key is accepted this long after a commit, then never again.
  static constexpr double kGraceS = 15;
  static constexpr double kAutoCommitS = 5;  // a staged key is sent with after this, heard or not
  explicit KeyRing(KeyEpoch current) : cur_(current) {}
  KeyEpoch current() const;
  // The keys a packet or link may be authenticated with at `now`: the current one, a staged
  // next one, and the previous one during its grace.
  std::vector<KeyEpoch> accepted(double now) const;
  // The next epoch's key arrived: accepted from now on. False (ignored) unless newer than any held.
  bool stage(const KeyEpoch& next, double now);
  // Send with the staged key of `epoch` from now on (heard in use, or this node made it).
  bool commit(uint32_t epoch, double now);
  // Replace the current key outright (this node rejoined after missing a rekey).
  bool install(const KeyEpoch& k, double now);
  // Commits a staged key that waited kAutoCommitS; true when it did.
  bool tick(double now);

 private:
  mutable std::mutex mu_;
  KeyEpoch cur_;
  std::optional<KeyEpoch> next_, prev_;
  double staged_at_ = 0, prev_until_ = 0;
};

// The first 16 hex digits of the key's SHA-256 (what `grappe status` shows; never the key).
std::string key_fingerprint(const ClusterKey& k);

}  // namespace grappe
