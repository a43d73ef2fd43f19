#include "progress.h"

#include <cstdio>

namespace grappe::build {

Progress::Progress(bool tty, int plain_interval_s) : tty_(tty), interval_(plain_interval_s) {}

void Progress::begin(const std::string& stage) {
  stage_ = stage;
  last_ = std::chrono::steady_clock::now();
  shown_ = false;
}

void Progress::line(const std::string& text) {
  auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_ < std::chrono::milliseconds(100)) return;
    std::string t = text.substr(0, 100);
    std::fprintf(stdout, "\r\033[K  [%s] %s", stage_.c_str(), t.c_str());
    std::fflush(stdout);
    shown_ = true;
  } else {
    if (now - last_ < std::chrono::seconds(interval_)) return;
    std::fprintf(stdout, "  [%s] %s\n", stage_.c_str(), text.substr(0, 160).c_str());
    std::fflush(stdout);
  }
  last_ = now;
}

void Progress::end() {
  if (tty_ && shown_) std::fprintf(stdout, "\r\033[K");
  std::fflush(stdout);
  shown_ = false;
}

}  // namespace grappe::build
