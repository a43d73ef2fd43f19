#include "membership/key_ring.h"

#include <sodium.h>

namespace grappe {

KeyEpoch KeyRing::current() const {
  std::lock_guard<std::mutex> l(mu_);
  return cur_;
}

std::vector<KeyEpoch> KeyRing::accepted(double now) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<KeyEpoch> out{cur_};
  if (next_) out.push_back(*next_);
  if (prev_ && now < prev_until_) out.push_back(*prev_);
  return out;
}

bool KeyRing::stage(const KeyEpoch& next, double now) {
  std::lock_guard<std::mutex> l(mu_);
  if (next.epoch <= cur_.epoch || (next_ && next.epoch <= next_->epoch)) return false;
  next_ = next;
  staged_at_ = now;
  return true;
}

bool KeyRing::commit(uint32_t epoch, double now) {
  std::lock_guard<std::mutex> l(mu_);
  if (!next_ || next_->epoch != epoch) return false;
  prev_ = cur_;
  prev_until_ = now + kGraceS;
  cur_ = *next_;
  next_.reset();
  return true;
}

bool KeyRing::install(const KeyEpoch& k, double now) {
  std::lock_guard<std::mutex> l(mu_);
  if (k.epoch <= cur_.epoch) return false;
  prev_ = cur_;
  prev_until_ = now + kGraceS;
  cur_ = k;
  if (next_ && next_->epoch <= k.epoch) next_.reset();
  return true;
}

bool KeyRing::tick(double now) {
  uint32_t e;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!next_ || now - staged_at_ < kAutoCommitS) return false;
    e = next_->epoch;
  }
  return commit(e, now);
}

std::string key_fingerprint(const ClusterKey& k) {
  unsigned char fp[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(fp, k.data(), k.size());
  char hex[17];
  sodium_bin2hex(hex, sizeof hex, fp, 8);
  return hex;
}

}  // namespace grappe
