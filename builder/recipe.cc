#include "recipe.h"

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <toml.hpp>

#include "error.h"
#include "suggest.h"

namespace grappe::build {
namespace {

const std::map<std::string, std::set<std::string>> kSchema = {
    {"image", {"name", "volume_label", "source_date_epoch"}},
    {"rootfs", {"suite", "mirror", "variant", "packages"}},
    {"kernel", {"package", "trim"}},
    {"initramfs", {"modules", "always"}},
    {"squashfs", {"compression", "level"}},
    {"boot", {"default", "timeout", "cmdline"}},
    {"cluster", {"name", "key"}},
    {"userland", {"sdk_packages"}},
};

std::string join(const std::set<std::string>& s) {
  std::string r;
  for (const auto& x : s) r += (r.empty() ? "" : ", ") + x;
  return r;
}

struct Reader {
  const toml::value& root;
  const std::string& path;
  std::map<std::string, size_t>& lines;

  [[noreturn]] void fail(const toml::value& at, const std::string& field, const std::string& msg,
                         const std::string& valid) const {
    throw Error("bad recipe field '" + field + "' in " + path + " line " + std::to_string(at.location().line()),
                toml::format_error("[error] " + msg, at, "here"), valid);
  }

  const toml::value* get(const std::string& table, const std::string& key) const {
    if (!root.contains(table)) return nullptr;
    const auto& t = root.at(table);
    return t.contains(key) ? &t.at(key) : nullptr;
  }

  void str(const std::string& table, const std::string& key, std::string& out,
           const std::string& pattern, const std::string& valid) const {
    const auto* v = get(table, key);
    if (!v) return;
    if (!v->is_string()) fail(*v, table + "." + key, "expected a string", valid);
    out = v->as_string().str;
    lines[table + "." + key] = v->location().line();
    if (!pattern.empty() && !std::regex_match(out, std::regex(pattern)))
      fail(*v, table + "." + key, "invalid value '" + out + "'", valid);
  }

  void integer(const std::string& table, const std::string& key, int64_t& out, int64_t lo,
               int64_t hi) const {
    const auto* v = get(table, key);
    if (!v) return;
    std::string valid = "an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
    if (!v->is_integer()) fail(*v, table + "." + key, "expected an integer", valid);
    out = v->as_integer();
    lines[table + "." + key] = v->location().line();
    if (out < lo || out > hi) fail(*v, table + "." + key, "out of range", valid);
  }

  void list(const std::string& table, const std::string& key, std::vector<std::string>& out,
            const std::string& pattern, const std::string& valid) const {
    const auto* v = get(table, key);
    if (!v) return;
    if (!v->is_array()) fail(*v, table + "." + key, "expected an array of strings", valid);
    out.clear();
    for (const auto& e : v->as_array()) {
      if (!e.is_string()) fail(e, table + "." + key, "expected a string", valid);
      const std::string s = e.as_string().str;
      if (!std::regex_match(s, std::regex(pattern)) || s.find("..") != std::string::npos)
        fail(e, table + "." + key, "invalid entry '" + s + "'", valid);
      lines[table + "." + key + "#" + std::to_string(out.size())] = e.location().line();
      out.push_back(s);
    }
  }
};

void check_schema(const toml::value& root, const std::string& path) {
  std::set<std::string> tables;
  for (const auto& [k, _] : kSchema) tables.insert(k);
  for (const auto& [name, val] : root.as_table()) {
    auto it = kSchema.find(name);
    if (it == kSchema.end() || !val.is_table())
      throw Error("unknown recipe section '" + name + "' in " + path + " line " + std::to_string(val.location().line()),
                  toml::format_error("[error] unknown section", val, "not a recipe section"),
                  did_you_mean(name, {tables.begin(), tables.end()}) + "valid sections are: " + join(tables));
    for (const auto& [key, v] : val.as_table())
      if (!it->second.count(key))
        throw Error("unknown recipe key '" + name + "." + key + "' in " + path + " line " + std::to_string(v.location().line()),
                    toml::format_error("[error] unknown key", v, "not a key of [" + name + "]"),
                    did_you_mean(key, {it->second.begin(), it->second.end()}) + "valid keys of [" + name +
                        "] are: " + join(it->second));
  }
}

Recipe parse(const toml::value& root, const std::string& path) {
  check_schema(root, path);
  Recipe r;
  r.path = path;
  Reader rd{root, path, r.lines};
  const std::string pkg = "[a-z0-9][a-z0-9+.-]+";
  rd.str("image", "name", r.name, "[a-z0-9][a-z0-9-]{0,31}", "lower-case letters, digits and '-', at most 32");
  rd.str("image", "volume_label", r.volume_label, "[A-Z0-9_]{1,16}",
         "1 to 16 characters from A-Z, 0-9 and '_' (ISO 9660 volume id)");
  rd.integer("image", "source_date_epoch", r.source_date_epoch, 0, 4102444800);
  rd.str("rootfs", "suite", r.suite, "[a-z]+", "a Debian suite name such as trixie");
  rd.str("rootfs", "mirror", r.mirror, "(https?|file)://[^ ]+|", "an http(s):// or file:// URL, or \"\" for the host's mirror");
  rd.str("rootfs", "variant", r.variant, "minbase|required|important|standard|apt",
         "one of minbase, required, important, standard, apt");
  rd.list("rootfs", "packages", r.packages, pkg, "Debian package names");
  rd.str("kernel", "package", r.kernel_package, pkg, "a Debian kernel package such as linux-image-amd64");
  rd.list("kernel", "trim", r.trim, "kernel(/[A-Za-z0-9_.+-]+)+",
          "paths below lib/modules/<version>/ such as kernel/sound (no '..')");
  const std::string mod = "[A-Za-z0-9_-]+";
  rd.list("initramfs", "modules", r.initramfs_modules, mod, "kernel module names");
  rd.list("initramfs", "always", r.initramfs_always, mod, "kernel module names");
  rd.str("squashfs", "compression", r.compression, "zstd|xz|gzip|lz4|lzo", "one of zstd, xz, gzip, lz4, lzo");
  int64_t level = r.compression_level;
  rd.integer("squashfs", "level", level, 1, 22);
  r.compression_level = static_cast<int>(level);
  rd.str("boot", "default", r.default_entry, "node|debug|serial|serve", "one of node, debug, serial, serve");
  int64_t timeout = r.timeout_s;
  rd.integer("boot", "timeout", timeout, 0, 600);
  r.timeout_s = static_cast<int>(timeout);
  rd.str("boot", "cmdline", r.cmdline, "[ -~]*", "printable ASCII kernel parameters");
  rd.str("cluster", "name", r.cluster_name, "[a-z0-9][a-z0-9-]{0,31}", "lower-case letters, digits and '-', at most 32");
  rd.str("cluster", "key", r.cluster_key, "([0-9a-f]{64})?", "64 lower-case hex characters (32 bytes), or \"\" for a random key per build");
  rd.list("userland", "sdk_packages", r.sdk_packages, pkg, "Debian package names");
  if (r.packages.empty())
    throw Error("recipe " + path + " has no [rootfs] packages", "",
                "add at least packages = [\"systemd-sysv\"] to [rootfs]");
  return r;
}

}  // namespace

size_t recipe_line(const Recipe& r, const std::string& field) {
  auto it = r.lines.find(field);
  return it == r.lines.end() ? 0 : it->second;
}

Recipe parse_recipe(const std::string& text, const std::string& path) {
  try {
    std::istringstream in(text);
    return parse(toml::parse(in, path), path);
  } catch (const toml::exception& e) {
    throw Error("cannot parse recipe " + path + " line " + std::to_string(e.location().line()), e.what(),
                "fix the TOML syntax at the line shown");
  }
}

Recipe load_recipe(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read recipe", path, "give the path of a recipe such as recipes/default.toml");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_recipe(ss.str(), path);
}

}  // namespace grappe::build
