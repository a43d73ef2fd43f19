// Reading a small text file whole (procfs entries, /etc files): empty when it cannot be read,
// for callers where a missing file simply means "unknown".
#pragma once
#include <fstream>
#include <sstream>
#include <string>

namespace grappe {

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace grappe
