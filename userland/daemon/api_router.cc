#include "daemon/api_router.h"

#include <exception>

#include "common/api_protocol.h"
#include "common/json_fields.h"

namespace grappe {

bool is_utf8_text(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? c : c & (0x7f >> len);
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;  // overlong, surrogate
    i += len;
  }
  return true;
}

void ApiRouter::add(const std::string& cmd, ApiHandler handler) { table_[cmd] = std::move(handler); }

std::vector<std::string> ApiRouter::commands() const {
  std::vector<std::string> out;
  for (const auto& [cmd, h] : table_) out.push_back(cmd);
  return out;
}

ApiReply ApiRouter::route(std::string_view line, const Caller& who, double now) const {
  if (line.size() > kMaxRequestLine) return {api_error("request line longer than 1 MiB"), false};
  if (!is_utf8_text(line)) return {api_error("request is not UTF-8 text (binary data travels as base64)"), false};
  const auto req = nlohmann::json::parse(line, nullptr, false);
  if (req.is_discarded() || !req.is_object()) return {api_error("request is not a JSON object"), false};
  Fields f(req, "request");
  const int64_t v = f.integer("v", 0, INT32_MIN, INT32_MAX, Need::Required);
  const std::string cmd = f.str("cmd", "", Need::Required, 64);
  if (!f.ok()) return {api_error(f.error()), false};
  if (v != kApiVersion)
    return {api_error("unsupported API version " + std::to_string(v) + "; this daemon speaks v" + std::to_string(kApiVersion)), false};
  if (!table_.count(cmd)) {
    std::string known;
    for (const auto& c : commands()) known += (known.empty() ? "" : ", ") + c;
    return {api_error("unknown command '" + cmd + "' (known: " + known + ")"), false};
  }
  return call(cmd, req, who, now);
}

// A handler that throws is a bug: the caller gets an internal error, the daemon carries on.
ApiReply ApiRouter::call(const std::string& cmd, const nlohmann::json& req, const Caller& who, double now) const {
  try {
    return table_.at(cmd)(req, who, now);
  } catch (const std::exception& e) {
    return {api_error(cmd + ": internal error in grapped: " + e.what()), false};
  } catch (...) {
    return {api_error(cmd + ": internal error in grapped"), false};
  }
}

}  // namespace grappe
