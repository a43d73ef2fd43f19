#include "common/api_protocol.h"

#include <sodium.h>

#include <cstring>

namespace grappe {

nlohmann::json api_error(const std::string& why) { return {{"v", kApiVersion}, {"ok", false}, {"error", why}}; }

std::string b64_encode(const std::string& raw) {
  std::string out(sodium_base64_encoded_len(raw.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(raw.data()), raw.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

bool b64_decode(const std::string& text, std::string& raw) {
  raw.resize(text.size());
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), text.data(), text.size(), nullptr,
                        &len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0)
    return false;
  raw.resize(len);
  return true;
}

}  // namespace grappe
