// Reading a file whole. try_read_file says whether it could be read; read_text is for callers
// where a missing file simply means "unknown" (procfs entries, /etc files) and gets "" then.
// Callers that must fail wrap try_read_file with their own error (builder's read_file throws
// build::Error; grapped names the file it needed). Header-only: builder/ and initramfs/ use it.
#pragma once
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace grappe {

// The file's bytes (binary, unchanged), or nullopt when it cannot be opened or read.
inline std::optional<std::string> try_read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(ss).str();
}

// The first line of a command's output, at most `max` bytes: for error messages.
inline std::string first_line(const std::string& s, size_t max = 200) {
  std::string l = s.substr(0, s.find('\n'));
  return l.size() > max ? l.substr(0, max) : l;
}

// The file's bytes, or "" when it cannot be read.
inline std::string read_text(const std::string& path) { return try_read_file(path).value_or(std::string()); }

}  // namespace grappe
