#include "identity.h"

#include <sodium.h>

#include <cctype>

namespace grappe::init {

std::string normalize_mac(const std::string& in) {
  std::string s = in;
  if (s.size() == 20 && s.rfind("01-", 0) == 0) s = s.substr(3);  // BOOTIF: ARP type 1 prefix
  std::string hex;
  for (char c : s) {
    if (std::isxdigit(static_cast<unsigned char>(c))) hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (c != ':' && c != '-' && c != '.') return "";
  }
  if (hex.size() != 12 || hex == "000000000000" || hex == "ffffffffffff") return "";
  int first = std::stoi(hex.substr(0, 2), nullptr, 16);
  if (first & 1) return "";  // multicast
  std::string out;
  for (size_t i = 0; i < 12; i += 2) out += (i ? ":" : "") + hex.substr(i, 2);
  return out;
}

bool valid_hostname(const std::string& h) {
  if (h.empty() || h.size() > 63 || h.front() == '-' || h.back() == '-') return false;
  for (char c : h)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
  return true;
}

Identity derive_identity(const std::string& mac, const std::string& hostname_override) {
  Identity id;
  id.mac = mac;
  std::string input = "grappe-machine-id:" + mac;
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  id.machine_id = std::string(hex, 32);
  std::string compact;
  for (char c : mac)
    if (c != ':') compact += c;
  id.hostname = valid_hostname(hostname_override) ? hostname_override : "grappe-" + compact;
  return id;
}

}  // namespace grappe::init
