// toml11 changed its API between v3 (Debian 12, the build host) and v4 (Debian 13, the image):
// these helpers read strings and line numbers the same way under both.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

#include <toml.hpp>

namespace grappe {

#if defined(TOML11_VERSION_MAJOR) && TOML11_VERSION_MAJOR >= 4
inline std::string toml_str(const toml::value& v) { return v.as_string(); }
inline size_t toml_line(const toml::value& v) { return v.location().first_line_number(); }
#else
inline std::string toml_str(const toml::value& v) { return v.as_string().str; }
inline size_t toml_line(const toml::value& v) { return v.location().line(); }
#endif

// Parses a TOML document read from `path`; throws std::runtime_error "cannot parse PATH: …".
inline toml::value parse_toml(const std::string& text, const std::string& path) {
  try {
    std::istringstream in(text);
    return toml::parse(in, path);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot parse " + path + ": " + e.what());
  }
}

}  // namespace grappe
