// Progress display for long stages, several of which may run at once: on a terminal one status
// line, rewritten, naming every running stage with its time and latest output; otherwise (CI
// logs) an occasional plain line per stage, so a slow mmdebstrap or mksquashfs never looks hung.
// Thread-safe: stages report from their own threads.
#pragma once
#include <chrono>
#include <map>
#include <mutex>
#include <string>

namespace grappe::build {

class Progress {
 public:
  explicit Progress(bool tty, int plain_interval_s = 15);
  void begin(const std::string& stage);
  void line(const std::string& stage, const std::string& text);  // a line of a stage's tool output
  void end(const std::string& stage);
  // A line of the build's own report ("[3/10] sdk built …"): printed above the status line.
  void note(const std::string& text);

 private:
  struct Running {
    std::chrono::steady_clock::time_point start, last;
    std::string text;
  };
  void draw(std::chrono::steady_clock::time_point now);  // with mu_ held
  void clear();                                          // with mu_ held
  bool tty_;
  int interval_;
  std::mutex mu_;
  std::map<std::string, Running> running_;
  std::chrono::steady_clock::time_point drawn_{};
  bool shown_ = false;
};

}  // namespace grappe::build
