// The cluster's operating key and its epoch, as this node holds them, shared by the event loop
// (UDP packets) and the migration threads (peer links). A rekey (`grappe cluster rekey`, `grappe
// node forget`) hands every live member the next epoch's key: the initiator and each member first
// *accept* it (stage); the initiator, once the members answered, *sends* with it (commit), and each
// member commits on the first packet it hears under it. A plain rekey keeps accepting the old key
// a grace period more; a forget drops it at the commit. A staged key nobody commits expires.
// Thread-safe.
#pragma once
#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "membership/wire.h"

namespace grappe {

struct KeyEpoch {
  uint32_t epoch = 0;
  ClusterKey key{};
};

enum class StageResult { Staged, Same, Old, Conflict };

class KeyRing {
 public:
  static constexpr double kGraceS = 15;    // the old key after a plain rekey's commit
  static constexpr double kStagedS = 30;   // a staged key not committed by then is dropped
  static constexpr uint32_t kMaxStep = 1000;  // an epoch further ahead than this is refused
  explicit KeyRing(KeyEpoch current) : cur_(current) {}
  KeyEpoch current() const;
  std::optional<KeyEpoch> staged(double now) const;
  double staged_for(double now) const;  // seconds since the staged key was staged (-1: none)
  // The keys a packet or link may be authenticated with at `now`: the current one, a staged
  // next one, and the previous one during its grace.
  std::vector<KeyEpoch> accepted(double now) const;
  // The next epoch's key arrived. Old: not newer than the current one (or absurdly far ahead);
  // Conflict: another key is staged (one rekey at a time); Same: this very key is staged already. `grace`: keep accepting the old key kGraceS after the commit.
  StageResult stage(const KeyEpoch& next, double now, bool grace = true);
  // Send with the staged key of `epoch` from now on (heard in use, or this node made it); false
  // when that key is not staged (any more: staged keys expire after kStagedS).
  bool commit(uint32_t epoch, double now);
  // Replace the current key outright (this node rejoined after missing a rekey).
  bool install(const KeyEpoch& k, double now);
  void unstage(uint32_t epoch);  // a rekey this node started did not go through

 private:
  mutable std::mutex mu_;
  KeyEpoch cur_;
  std::optional<KeyEpoch> next_, prev_;
  bool next_grace_ = true;
  double staged_at_ = 0, prev_until_ = 0;
};

// The first 16 hex digits of the key's SHA-256 (what `grappe status` shows; never the key).
std::string key_fingerprint(const ClusterKey& k);

}  // namespace grappe
