// libFuzzer target for what a browser sends the dashboard (dashboard/dashboard_request.h) and the
// event stream's framing (dashboard/event_hub.h): any body, cookie header or event text. No crash,
// no exception; an accepted action is a v1 request of an allowed command whose strings are
// bounded and free of anything but an id's or a node name's characters; an SSE frame is always
// exactly one frame (three line breaks, whatever it carries).
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "dashboard/dashboard_request.h"
#include "dashboard/event_hub.h"

using namespace grappe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  const nlohmann::json body = nlohmann::json::parse(in, nullptr, false);
  const DashboardAction a = dashboard_action(body);
  if (a.error.empty()) {
    const std::string cmd = a.request.at("cmd").get<std::string>();
    if (a.request.at("v") != 1 || (cmd != "migrate" && cmd != "kill" && cmd != "node")) std::abort();
    for (const auto& [k, v] : a.request.items()) {
      if (!v.is_string()) continue;
      const std::string s = v.get<std::string>();
      if (s.size() > 64) std::abort();
      for (char c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-')) std::abort();
    }
  } else if (a.error.size() > 200) {
    std::abort();  // an error quotes at most 32 bytes of the request
  }
  const std::string cookie = session_cookie(in);
  if (cookie.size() > in.size()) std::abort();
  const std::string frame = sse_frame(in.substr(0, in.size() / 2), in.substr(in.size() / 2));
  size_t breaks = 0;
  for (char c : frame) breaks += c == '\n' || c == '\r';
  if (breaks != 3 || frame.compare(frame.size() - 2, 2, "\n\n") != 0) std::abort();
  return 0;
}
