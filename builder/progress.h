// Progress display for long stages: one rewritten status line on a terminal, occasional plain
// lines otherwise (CI logs), so a slow mmdebstrap or mksquashfs never looks hung.
#pragma once
#include <chrono>
#include <string>

namespace grappe::build {

class Progress {
 public:
  explicit Progress(bool tty, int plain_interval_s = 15);
  void begin(const std::string& stage);
  void line(const std::string& text);  // a line of tool output
  void end();                           // clears the status line

 private:
  bool tty_;
  int interval_;
  std::string stage_;
  std::chrono::steady_clock::time_point last_;
  bool shown_ = false;
};

}  // namespace grappe::build
