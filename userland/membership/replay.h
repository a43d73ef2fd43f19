// Replay protection: each sender numbers its packets with a strictly increasing nonce (started
// from the wall clock, so a restarted daemon continues above its old values). A receiver accepts
// each nonce once, within a 64-packet window for reordering.
#pragma once
#include <cstdint>

namespace grappe {

class ReplayWindow {
 public:
  // True the first time a nonce inside the window is seen; false for duplicates and old packets.
  bool accept(uint64_t nonce);

 private:
  bool seen_any_ = false;
  uint64_t highest_ = 0;
  uint64_t bits_ = 0;  // bit i: highest_ - i was seen
};

}  // namespace grappe
