// Lower-case hex of bytes, and back. Header-only (libsodium's constant-time codec): userland,
// grappe-init and the builder share it.
#pragma once
#include <sodium.h>

#include <array>
#include <cstdint>
#include <string>

namespace grappe {

inline std::string to_hex(const uint8_t* data, size_t n) {
  std::string s(n * 2 + 1, '\0');
  sodium_bin2hex(s.data(), s.size(), data, n);
  s.pop_back();
  return s;
}
template <size_t N>
std::string to_hex(const std::array<uint8_t, N>& a) { return to_hex(a.data(), N); }

// False unless `hex` is exactly 2*n lower-case hex digits.
inline bool parse_hex(const std::string& hex, uint8_t* out, size_t n) {
  if (hex.size() != n * 2 || hex.find_first_not_of("0123456789abcdef") != std::string::npos) return false;
  size_t got = 0;
  return sodium_hex2bin(out, n, hex.data(), hex.size(), nullptr, &got, nullptr) == 0 && got == n;
}
template <size_t N>
bool parse_hex(const std::string& hex, std::array<uint8_t, N>& out) { return parse_hex(hex, out.data(), N); }

}  // namespace grappe
