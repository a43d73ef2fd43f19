#include "balance/node_admin.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "balance/balancer.h"
#include "common/text_file.h"

namespace grappe {
namespace {

bool parse_count(const std::string& v, long max, long& out) {
  if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos) return false;
  out = std::stol(v);
  return out <= max;
}

}  // namespace

std::string apply_boot_flags(NodeAdmin& a, const std::string& cmdline) {
  std::istringstream words(cmdline);
  std::string applied;
  for (std::string w; words >> w;) {
    if (w.rfind("grappe.flags=", 0) != 0) continue;
    std::istringstream list(w.substr(13));
    for (std::string f; std::getline(list, f, ',');) {
      std::string err;
      if ((f == "block" || f == "lstay" || f == "stay") && a.apply(f, "", err)) applied += (applied.empty() ? "" : ",") + f;
    }
  }
  return applied;
}

bool NodeAdmin::apply(const std::string& op, const std::string& value, std::string& err) {
  struct Toggle {
    const char *on, *off;
    uint16_t bit;
  };
  static const Toggle toggles[] = {{"block", "unblock", kFlagBlock}, {"lstay", "nolstay", kFlagLstay}, {"stay", "nostay", kFlagStay}};
  for (const Toggle& t : toggles) {
    if (op != t.on && op != t.off) continue;
    if (!value.empty()) return err = "node " + op + " takes no value", false;
    if (op == t.on) flags |= t.bit;
    else flags &= static_cast<uint16_t>(~t.bit);
    return true;
  }
  long n = 0;
  if (op == "speed") {
    if (!parse_count(value, 100000000, n))
      return err = "node speed: give a whole number from 0 to 100000000 (0: use the calibrated speed), not '" + value + "'",
             false;
    speed = static_cast<uint32_t>(n);
    return true;
  }
  if (op == "maxguests") {
    if (value == "none" || value == "-1") return max_guests = -1, true;
    if (!parse_count(value, 100000, n))
      return err = "node maxguests: give a whole number from 0 to 100000, or 'none' for no limit, not '" + value + "'",
             false;
    max_guests = static_cast<int>(n);
    return true;
  }
  err = "unknown node setting '" + op +
        "': use block|unblock, lstay|nolstay, stay|nostay, speed N, maxguests N|none, expel or bring";
  return false;
}

std::string NodeAdmin::admit(bool coming_home, int guests_now) const {
  if (coming_home) return "";
  if (flags & kFlagBlock) return "this node refuses guests (grappe node block; 'grappe node unblock' lifts it)";
  if (max_guests >= 0 && guests_now >= max_guests)
    return "this node has " + std::to_string(guests_now) + " guest job(s), its limit (grappe node maxguests)";
  return "";
}

nlohmann::json NodeAdmin::to_json() const {
  return {{"block", (flags & kFlagBlock) != 0}, {"lstay", (flags & kFlagLstay) != 0}, {"stay", (flags & kFlagStay) != 0},
          {"speed", speed}, {"max_guests", max_guests}, {"netboot", netboot}, {"admission", admission}};
}

NodeAdmin NodeAdmin::from_json(const nlohmann::json& j) {
  NodeAdmin a;
  auto flag = [&](const char* key, uint16_t bit) {
    if (!j.contains(key)) return;
    if (!j[key].is_boolean()) throw std::runtime_error(std::string("\"") + key + "\" must be true or false");
    if (j[key].get<bool>()) a.flags |= bit;
  };
  flag("block", kFlagBlock);
  flag("lstay", kFlagLstay);
  flag("stay", kFlagStay);
  if (j.contains("netboot")) {
    if (!j["netboot"].is_number_unsigned()) throw std::runtime_error("\"netboot\" must be a whole number >= 0");
    a.netboot = j["netboot"].get<uint32_t>();
  }
  if (j.contains("admission")) {
    if (!j["admission"].is_number_unsigned() || j["admission"].get<uint64_t>() > UINT32_MAX)
      throw std::runtime_error("\"admission\" must be a whole number from 0 to 4294967295");
    a.admission = j["admission"].get<uint32_t>();
  }
  if (j.contains("speed")) {
    if (!j["speed"].is_number_unsigned()) throw std::runtime_error("\"speed\" must be a whole number >= 0");
    a.speed = j["speed"].get<uint32_t>();
  }
  if (j.contains("max_guests")) {
    if (!j["max_guests"].is_number_integer() || j["max_guests"].get<long>() < -1)
      throw std::runtime_error("\"max_guests\" must be a whole number, or -1 for no limit");
    a.max_guests = j["max_guests"].get<int>();
  }
  return a;
}

NodeAdmin load_node_admin(const std::string& path) {
  auto text = try_read_file(path);
  if (!text) return {};
  auto j = nlohmann::json::parse(*text, nullptr, false);
  try {
    if (!j.is_object()) throw std::runtime_error("not a JSON object");
    return NodeAdmin::from_json(j);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what() + " (fix it, or remove the file to reset this node's admin settings)");
  }
}

void save_node_admin(const std::string& path, const NodeAdmin& a) {
  namespace fs = std::filesystem;
  fs::create_directories(fs::path(path).parent_path());
  const std::string tmp = path + ".tmp";
  {
    std::ofstream o(tmp);
    o << a.to_json().dump() << "\n";
    if (!o.flush()) throw std::runtime_error("cannot write " + tmp);
  }
  fs::rename(tmp, path);
}

std::string flags_text(uint16_t flags) {
  std::string s;
  static const std::pair<uint16_t, const char*> names[] = {
      {kFlagBlock, "block"}, {kFlagLstay, "lstay"}, {kFlagStay, "stay"}, {kFlagExpel, "expel"}, {kFlagFull, "full"}};
  for (const auto& [bit, name] : names)
    if (flags & bit) s += (s.empty() ? "" : ",") + std::string(name);
  return s.empty() ? "-" : s;
}

}  // namespace grappe
