#include "common/json_fields.h"

#include <cmath>

namespace grappe {

Fields::Fields(const nlohmann::json& j, std::string where) : j_(j), where_(std::move(where)) {
  if (!j_.is_object()) error_ = where_ + ": expected a JSON object";
}

bool Fields::has(const char* key) const {
  if (!j_.is_object()) return false;
  auto it = j_.find(key);
  return it != j_.end() && !it->is_null();
}

void Fields::fail(const std::string& message) {
  if (error_.empty()) error_ = where_ + ": " + message;
}

void Fields::wrong(const char* key, const std::string& what) { fail("\"" + std::string(key) + "\" " + what); }

const nlohmann::json* Fields::find(const char* key, Need need) {
  if (!j_.is_object()) return nullptr;
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) {
    if (need == Need::Required) wrong(key, "is missing");
    return nullptr;
  }
  return &*it;
}

std::string Fields::str(const char* key, std::string def, Need need, size_t max_len) {
  const auto* v = find(key, need);
  if (!v) return def;
  if (!v->is_string()) {
    wrong(key, "must be a string");
    return def;
  }
  const auto& s = v->get_ref<const std::string&>();
  if (s.size() > max_len) {
    wrong(key, "is longer than " + std::to_string(max_len) + " bytes");
    return def;
  }
  return s;
}

int64_t Fields::integer(const char* key, int64_t def, int64_t min, int64_t max, Need need) {
  const auto* v = find(key, need);
  if (!v) return def;
  int64_t x = 0;
  if (v->is_number_integer()) {
    x = v->get<int64_t>();
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) x = INT64_MAX;
  } else if (v->is_number_float() && std::isfinite(v->get<double>()) && v->get<double>() == std::floor(v->get<double>()) &&
             std::fabs(v->get<double>()) < 9e15) {
    x = static_cast<int64_t>(v->get<double>());
  } else {
    wrong(key, "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
    return def;
  }
  if (x < min || x > max) {
    wrong(key, "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
    return def;
  }
  return x;
}

double Fields::number(const char* key, double def, Need need) {
  const auto* v = find(key, need);
  if (!v) return def;
  if (!v->is_number() || !std::isfinite(v->get<double>())) {
    wrong(key, "must be a number");
    return def;
  }
  return v->get<double>();
}

bool Fields::boolean(const char* key, bool def, Need need) {
  const auto* v = find(key, need);
  if (!v) return def;
  if (!v->is_boolean()) {
    wrong(key, "must be true or false");
    return def;
  }
  return v->get<bool>();
}

std::vector<std::string> Fields::strings(const char* key, Need need, size_t max_items) {
  const auto* v = find(key, need);
  std::vector<std::string> out;
  if (!v) return out;
  if (!v->is_array() || v->size() > max_items) {
    wrong(key, "must be an array of at most " + std::to_string(max_items) + " strings");
    return out;
  }
  for (const auto& e : *v) {
    if (!e.is_string()) {
      wrong(key, "must be an array of strings");
      return {};
    }
    out.push_back(e.get<std::string>());
  }
  return out;
}

nlohmann::json Fields::structured(const char* key, Need need, bool want_object) {
  const auto* v = find(key, need);
  if (!v) return nullptr;
  if (want_object ? !v->is_object() : !v->is_array()) {
    wrong(key, want_object ? "must be an object" : "must be an array");
    return nullptr;
  }
  return *v;
}

nlohmann::json Fields::object(const char* key, Need need) { return structured(key, need, true); }
nlohmann::json Fields::array(const char* key, Need need) { return structured(key, need, false); }

std::string dump_safe(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

}  // namespace grappe
