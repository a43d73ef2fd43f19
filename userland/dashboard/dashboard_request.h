// What a browser sends the dashboard (#27), checked before anything acts on it: the actions a page
// may ask for, rebuilt as a local API request from checked fields only, and the session cookie.
// Fuzzed (tests/fuzz/fuzz_dashboard.cc).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace grappe {

// Which actions a page may ask for, as a local API request ({"v":1,"cmd",…}) rebuilt from the
// checked fields only; an error text otherwise. migrate {job, to}; kill {job}; node {op: block,
// unblock or expel}.
struct DashboardAction {
  nlohmann::json request;
  std::string error;
};
DashboardAction dashboard_action(const nlohmann::json& body);

// The "grappe_session" cookie's value in a Cookie header ("" when absent).
std::string session_cookie(const std::string& header);

}  // namespace grappe
