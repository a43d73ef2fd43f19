#include "membership/key_ring.h"

#include <sodium.h>

namespace grappe {

KeyEpoch KeyRing::current() const {
  std::lock_guard<std::mutex> l(mu_);
  return cur_;
}

std::optional<KeyEpoch> KeyRing::staged(double now) const {
  std::lock_guard<std::mutex> l(mu_);
  if (next_ && now - staged_at_ <= kStagedS) return next_;
  return std::nullopt;
}

double KeyRing::staged_for(double now) const {
  std::lock_guard<std::mutex> l(mu_);
  return next_ ? now - staged_at_ : -1;
}

std::vector<KeyEpoch> KeyRing::accepted(double now) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<KeyEpoch> out{cur_};
  if (next_ && now - staged_at_ <= kStagedS) out.push_back(*next_);
  if (prev_ && now < prev_until_) out.push_back(*prev_);
  return out;
}

StageResult KeyRing::stage(const KeyEpoch& next, double now, bool grace) {
  std::lock_guard<std::mutex> l(mu_);
  if (next.epoch <= cur_.epoch || next.epoch - cur_.epoch > kMaxStep) return StageResult::Old;
  if (next_ && now - staged_at_ <= kStagedS) {  // one rekey at a time
    if (next_->epoch == next.epoch && sodium_memcmp(next_->key.data(), next.key.data(), next.key.size()) == 0)
      return StageResult::Same;
    return StageResult::Conflict;
  }
  next_ = next;
  next_grace_ = grace;
  staged_at_ = now;
  return StageResult::Staged;
}

bool KeyRing::commit(uint32_t epoch, double now) {
  std::lock_guard<std::mutex> l(mu_);
  if (!next_ || next_->epoch != epoch || now - staged_at_ > kStagedS) return false;
  prev_ = cur_;
  prev_until_ = next_grace_ ? now + kGraceS : now;
  cur_ = *next_;
  next_.reset();
  return true;
}

bool KeyRing::install(const KeyEpoch& k, double now) {
  std::lock_guard<std::mutex> l(mu_);
  if (k.epoch <= cur_.epoch || k.epoch - cur_.epoch > kMaxStep) return false;
  prev_ = cur_;
  prev_until_ = now + kGraceS;
  cur_ = k;
  if (next_ && next_->epoch <= k.epoch) next_.reset();
  return true;
}

void KeyRing::unstage(uint32_t epoch) {
  std::lock_guard<std::mutex> l(mu_);
  if (next_ && next_->epoch == epoch) next_.reset();
}

std::string key_fingerprint(const ClusterKey& k) {
  unsigned char fp[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(fp, k.data(), k.size());
  char hex[17];
  sodium_bin2hex(hex, sizeof hex, fp, 8);
  return hex;
}

}  // namespace grappe
