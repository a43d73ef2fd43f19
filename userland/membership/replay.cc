#include "membership/replay.h"

namespace grappe {

bool ReplayWindow::accept(uint64_t n) {
  if (!seen_any_) {
    seen_any_ = true;
    highest_ = n;
    bits_ = 1;
    return true;
  }
  if (n > highest_) {
    uint64_t shift = n - highest_;
    bits_ = shift >= 64 ? 1 : (bits_ << shift) | 1;
    highest_ = n;
    return true;
  }
  uint64_t back = highest_ - n;
  if (back >= 64) return false;
  uint64_t bit = uint64_t{1} << back;
  if (bits_ & bit) return false;
  bits_ |= bit;
  return true;
}

}  // namespace grappe
