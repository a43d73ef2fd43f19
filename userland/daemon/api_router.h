// The local API's router: one table from command name to handler. It turns one request line into
// one reply and never throws: the line is checked (size, UTF-8, a JSON object, "v", "cmd") before
// any handler sees it, each handler checks its own fields (common/json_fields.h), and an exception
// escaping a handler becomes an internal-error reply. Every refusal is {"v":1,"ok":false,"error"}.
#pragma once
#include "common/api_protocol.h"  // api_error
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "jobs/job_service.h"

namespace grappe {

// Longer request lines are refused and their connection closed (the daemon stops reading).
constexpr size_t kMaxRequestLine = 1 << 20;

struct ApiReply {
  nlohmann::json body;    // null: nothing to send now (a stream command, or the answer comes later)
  bool attached = false;  // the connection stays open: a job's stream, a migration's answer
};

// A handler gets the parsed request (an object with "v" and "cmd" already checked), the caller's
// SO_PEERCRED credentials and the loop's clock.
using ApiHandler = std::function<ApiReply(const nlohmann::json& req, const Caller& who, double now)>;

class ApiRouter {
 public:
  void add(const std::string& cmd, ApiHandler handler);
  ApiReply route(std::string_view line, const Caller& who, double now) const;
  std::vector<std::string> commands() const;

 private:
  ApiReply call(const std::string& cmd, const nlohmann::json& req, const Caller& who, double now) const;
  std::map<std::string, ApiHandler> table_;
};

// True when `s` is well-formed UTF-8 without NUL bytes.
bool is_utf8_text(std::string_view s);

}  // namespace grappe
