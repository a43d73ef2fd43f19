#include "progress.h"

#include <cstdio>

namespace grappe::build {

using Clock = std::chrono::steady_clock;

Progress::Progress(bool tty, int plain_interval_s) : tty_(tty), interval_(plain_interval_s) {}

void Progress::begin(const std::string& stage) {
  std::lock_guard<std::mutex> l(mu_);
  auto now = Clock::now();
  running_[stage] = {now, now, ""};
}

void Progress::clear() {
  if (tty_ && shown_) std::fputs("\r\033[K", stdout);
  shown_ = false;
}

void Progress::draw(Clock::time_point now) {
  std::string s;
  const size_t each = running_.size() > 1 ? 150 / running_.size() : 110;
  for (const auto& [stage, r] : running_) {
    const long secs = static_cast<long>(std::chrono::duration<double>(now - r.start).count());
    std::string part = "[" + stage + " " + std::to_string(secs) + "s] " + r.text;
    if (part.size() > each) part.resize(each);
    s += (s.empty() ? "  " : " | ") + part;
  }
  std::fprintf(stdout, "\r\033[K%s", s.c_str());
  std::fflush(stdout);
  shown_ = !s.empty();
  drawn_ = now;
}

void Progress::line(const std::string& stage, const std::string& text) {
  std::lock_guard<std::mutex> l(mu_);
  auto now = Clock::now();
  auto it = running_.find(stage);
  if (it == running_.end()) return;
  it->second.text = text.substr(0, 160);
  if (tty_) {
    if (now - drawn_ >= std::chrono::milliseconds(100)) draw(now);
    return;
  }
  if (now - it->second.last < std::chrono::seconds(interval_)) return;
  it->second.last = now;
  std::fprintf(stdout, "  [%s] %s\n", stage.c_str(), it->second.text.c_str());
  std::fflush(stdout);
}

void Progress::end(const std::string& stage) {
  std::lock_guard<std::mutex> l(mu_);
  running_.erase(stage);
  clear();
  std::fflush(stdout);
}

void Progress::note(const std::string& text) {
  std::lock_guard<std::mutex> l(mu_);
  clear();
  std::fprintf(stdout, "%s\n", text.c_str());
  if (tty_ && !running_.empty()) draw(Clock::now());
  std::fflush(stdout);
}

}  // namespace grappe::build
