#include "dashboard/dashboard_request.h"

#include <sstream>

namespace grappe {
namespace {

bool job_id(const std::string& s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || c == '.')) return false;
  return true;
}

bool node_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '.')) return false;
  return true;
}

std::string request_text(const nlohmann::json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

DashboardAction dashboard_action(const nlohmann::json& body) {
  if (!body.is_object()) return {{}, "an action is a JSON object"};
  const std::string what = request_text(body, "action");
  if (what == "migrate") {
    const std::string job = request_text(body, "job"), to = request_text(body, "to");
    if (!job_id(job)) return {{}, "migrate needs \"job\": a job id such as 1.3"};
    if (!node_name(to)) return {{}, "migrate needs \"to\": a node's name or number"};
    return {{{"v", 1}, {"cmd", "migrate"}, {"job", job}, {"to", to}}, ""};
  }
  if (what == "kill") {
    const std::string job = request_text(body, "job");
    if (!job_id(job)) return {{}, "kill needs \"job\": a job id such as 1.3"};
    return {{{"v", 1}, {"cmd", "kill"}, {"job", job}}, ""};
  }
  if (what == "block" || what == "unblock" || what == "expel")
    return {{{"v", 1}, {"cmd", "node"}, {"op", what}}, ""};
  return {{}, "unknown action '" + what.substr(0, 32) + "': migrate, kill, block, unblock or expel"};
}

std::string session_cookie(const std::string& header) {
  std::istringstream in(header);
  for (std::string part; std::getline(in, part, ';');) {
    const size_t start = part.find_first_not_of(' ');
    if (start == std::string::npos) continue;
    part = part.substr(start);
    if (part.rfind("grappe_session=", 0) == 0) return part.substr(15);
  }
  return "";
}

}  // namespace grappe
