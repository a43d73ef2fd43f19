#include "cli/pending_view.h"

#include <cstdio>

namespace grappe {
namespace {

std::string text(const nlohmann::json& o, const char* k, const std::string& fallback = "?") {
  if (!o.is_object()) return fallback;
  auto it = o.find(k);
  return it != o.end() && it->is_string() && !it->get<std::string>().empty() ? it->get<std::string>() : fallback;
}

int seconds(const nlohmann::json& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->is_number_integer() ? it->get<int>() : 0;
}

// The well-formed entries of reply["pending"] (objects with a MAC).
nlohmann::json pending_list(const nlohmann::json& reply) {
  nlohmann::json out = nlohmann::json::array();
  if (!reply.is_object()) return out;
  auto it = reply.find("pending");
  if (it == reply.end() || !it->is_array()) return out;
  for (const auto& p : *it)
    if (p.is_object() && text(p, "mac", "") != "") out.push_back(p);
  return out;
}

}  // namespace

std::string pending_text(const nlohmann::json& reply) {
  const nlohmann::json list = pending_list(reply);
  if (list.empty()) {
    const std::string on = text(reply, "pending_on", "");
    if (on.empty()) return "";
    return "\npending: PCs waiting to join (admission policy ask) are listed on " + on +
           ", which serves network boot: grappe nodes there; grappe admit MAC works on any node\n";
  }
  std::string t = "\npending: " + std::to_string(list.size()) + " PC(s) waiting to join on " + text(reply, "pending_server") +
                  " (admission policy ask)\n";
  char line[256];
  std::snprintf(line, sizeof line, "%-17s %-16s %-12s %7s  %s\n", "MAC", "ADDRESS", "KEY", "WAITING", "TO LET IT IN");
  t += line;
  for (const auto& p : list) {
    const std::string mac = text(p, "mac");
    std::snprintf(line, sizeof line, "%-17s %-16s %-12s %6ds  %s\n", mac.c_str(), text(p, "address").c_str(),
                  text(p, "key").c_str(), seconds(p, "waiting_s"), ("sudo grappe admit " + mac + " (or deny)").c_str());
    t += line;
  }
  return t;
}

nlohmann::json nodes_json(const nlohmann::json& reply) {
  nlohmann::json out = nlohmann::json::array();
  if (reply.is_object() && reply.contains("nodes") && reply["nodes"].is_array()) out = reply["nodes"];
  for (const auto& p : pending_list(reply)) {
    const std::string mac = text(p, "mac");
    out.push_back({{"state", "pending"}, {"name", mac}, {"number", 0}, {"self", false}, {"mac", mac},
                   {"address", text(p, "address")}, {"key", text(p, "key")}, {"waiting_s", seconds(p, "waiting_s")},
                   {"server", text(reply, "pending_server")}, {"admit", "grappe admit " + mac}});
  }
  return out;
}

}  // namespace grappe
