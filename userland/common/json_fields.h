// Typed, non-throwing reads of untrusted JSON (API requests from any local user, frame metas from
// peers). nlohmann's value() and get() throw type_error on a wrong type; this never throws. Each
// read returns the field or its default; the first problem (missing, wrong type, out of range) is
// kept as one message that names the field, so a handler checks ok() once and replies error().
//
//   Fields f(req, "run");
//   auto argv = f.strings("argv", Need::Required);
//   int sig = f.integer("sig", SIGTERM, 1, 64);
//   if (!f.ok()) return fail(f.error());   // "run: \"sig\" must be an integer from 1 to 64"
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace grappe {

enum class Need { Optional, Required };

class Fields {
 public:
  // `where` prefixes every message (a command name, "offer", "frame"). A `j` that is not an object
  // is an error at once.
  // It keeps a reference to `j`: a temporary would dangle, hence the deleted overload.
  explicit Fields(const nlohmann::json& j, std::string where = "request");
  Fields(nlohmann::json&&, std::string = {}) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  bool has(const char* key) const;  // present and not null

  std::string str(const char* key, std::string def = {}, Need need = Need::Optional, size_t max_len = 1 << 20);
  int64_t integer(const char* key, int64_t def, int64_t min, int64_t max, Need need = Need::Optional);
  double number(const char* key, double def, Need need = Need::Optional);  // finite JSON number
  bool boolean(const char* key, bool def, Need need = Need::Optional);
  // An array of strings (at most max_items).
  std::vector<std::string> strings(const char* key, Need need = Need::Optional, size_t max_items = 1 << 16);
  // An object or array field as it is (null when absent or on error): its own Fields reads it.
  nlohmann::json object(const char* key, Need need = Need::Optional);
  nlohmann::json array(const char* key, Need need = Need::Optional);

  // Records a caller's own check (first error wins).
  void fail(const std::string& message);

 private:
  const nlohmann::json* find(const char* key, Need need);
  void wrong(const char* key, const std::string& what);
  nlohmann::json structured(const char* key, Need need, bool want_object);

  const nlohmann::json& j_;
  std::string where_;
  std::string error_;
};

// A reply or frame serialised without throwing: strings that are not valid UTF-8 (a name cut in
// the middle of a character, bytes from a process) are repaired with U+FFFD instead of throwing.
std::string dump_safe(const nlohmann::json& j);

}  // namespace grappe
