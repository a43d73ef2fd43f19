// Errors as values: what failed, on what, and what to do about it.
#pragma once
#include <stdexcept>
#include <string>

namespace grappe::build {

struct Error : std::runtime_error {
  Error(std::string what, std::string on = {}, std::string fix = {})
      : std::runtime_error(compose(what, on, fix)), what_(std::move(what)), on_(std::move(on)),
        fix_(std::move(fix)) {}
  const std::string& failed() const { return what_; }
  const std::string& subject() const { return on_; }
  const std::string& fix() const { return fix_; }

 private:
  static std::string compose(const std::string& w, const std::string& on, const std::string& fix) {
    std::string s = w;
    if (!on.empty()) s += ": " + on;
    if (!fix.empty()) s += "\n  fix: " + fix;
    return s;
  }
  std::string what_, on_, fix_;
};

}  // namespace grappe::build
