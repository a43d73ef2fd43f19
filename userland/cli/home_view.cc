#include "cli/home_view.h"

namespace grappe {
namespace {

std::string str(const nlohmann::json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}
long num(const nlohmann::json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_number_integer() ? it->get<long>() : -1;
}

}  // namespace

bool home_degraded(const nlohmann::json& h) { return h.is_object() && !str(h, "degraded").empty(); }

std::string home_text(const nlohmann::json& h) {
  if (!h.is_object()) return "";
  std::string out = "home      " + (str(h, "state").empty() ? "?" : str(h, "state")) + "\n";
  std::string d;
  auto add = [&](const std::string& s) {
    if (!s.empty()) d += (d.empty() ? "" : "; ") + s;
  };
  const std::string role = str(h, "role");
  if (!role.empty()) add("role " + role);
  if (num(h, "server") > 0 && role != "server") add("server node " + std::to_string(num(h, "server")));
  if (num(h, "standby") > 0) add("standby node " + std::to_string(num(h, "standby")));
  add(str(h, "sync"));
  if (!str(h, "backing").empty()) add("backing " + str(h, "backing"));
  if (num(h, "used_mb") >= 0 && num(h, "free_mb") > 0)
    add(std::to_string(num(h, "used_mb")) + " MB used, " + std::to_string(num(h, "free_mb")) + " MB free");
  if (num(h, "term") > 0) add("term " + std::to_string(num(h, "term")));
  if (!d.empty()) out += "          " + d + "\n";
  if (home_degraded(h)) out += "          WARNING: " + str(h, "degraded") + "\n";
  if (!str(h, "disk").empty()) out += "          this node's disk: " + str(h, "disk") + "\n";
  if (!str(h, "hand_over").empty()) out += "          hand-over: " + str(h, "hand_over") + "\n";
  if (!str(h, "error").empty()) out += "          last error: " + str(h, "error") + "\n";
  return out;
}

}  // namespace grappe
