// toml11 changed its API between v3 (Debian 12, the build host) and v4 (Debian 13, the image):
// these helpers read strings and line numbers the same way under both.
#pragma once
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

}  // namespace grappe
