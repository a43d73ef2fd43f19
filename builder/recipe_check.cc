#include "recipe_check.h"

#include <algorithm>

#include "suggest.h"

namespace grappe::build {
namespace {

constexpr const char* kComponent = "main";  // what the rootfs and sdk stages ask mmdebstrap for
constexpr const char* kArch = "amd64";

// Suggestions only, for a suite the mirror does not have (its list of suites cannot be read).
const std::vector<std::string> kKnownSuites = {"bullseye", "bookworm", "trixie", "forky",    "duke",
                                               "sid",      "stable",   "testing", "unstable", "oldstable",
                                               "experimental"};

struct Named {
  std::string field;  // "rootfs.packages#3"
  std::string spec;
};

std::vector<Named> named_packages(const Recipe& r) {
  std::vector<Named> out;
  for (size_t i = 0; i < r.packages.size(); ++i) out.push_back({"rootfs.packages#" + std::to_string(i), r.packages[i]});
  out.push_back({"kernel.package", r.kernel_package});
  for (size_t i = 0; i < r.sdk_packages.size(); ++i)
    out.push_back({"userland.sdk_packages#" + std::to_string(i), r.sdk_packages[i]});
  return out;
}

std::string join(const std::set<std::string>& s, size_t most) {
  std::string out;
  size_t n = 0;
  for (const auto& x : s) {
    if (n++ == most) return out + ", …";
    out += (out.empty() ? "" : ", ") + x;
  }
  return out;
}

}  // namespace

bool MirrorCheck::ok() const {
  return std::none_of(findings.begin(), findings.end(), [](const RecipeFinding& f) { return f.error; });
}

MirrorCheck check_recipe_on_mirror(const Recipe& r, IndexSource& src) {
  MirrorCheck out;
  const std::string where = src.mirror.where();
  auto release_text = src.mirror.get("dists/" + r.suite + "/Release");
  if (!release_text) {
    out.findings.push_back({recipe_line(r, "rootfs.suite"),
                            "suite '" + r.suite + "' is not on the mirror " + where + " (no dists/" + r.suite + "/Release)",
                            did_you_mean(r.suite, kKnownSuites) +
                                "set [rootfs] suite to one the mirror carries (trixie, bookworm, …), or check the mirror URL"});
    return out;
  }
  const ReleaseFile release = parse_release(*release_text);
  auto lists = [](const std::vector<std::string>& v, const char* x) { return std::find(v.begin(), v.end(), x) != v.end(); };
  if (!release.architectures.empty() && !lists(release.architectures, kArch)) {
    out.findings.push_back({recipe_line(r, "rootfs.suite"), "suite '" + r.suite + "' on " + where + " has no " + kArch + " packages",
                            "use a suite and mirror that carry amd64"});
    return out;
  }
  PackageIndex idx = load_package_index(src, r.suite, release, kComponent, kArch);
  // Archives that keep Architecture: all packages apart, and say they do not repeat them.
  if (!release.all_in_arch_indices && std::any_of(release.files.begin(), release.files.end(), [](const auto& f) {
        return f.first.rfind(std::string(kComponent) + "/binary-all/Packages", 0) == 0;
      })) {
    PackageIndex all = load_package_index(src, r.suite, release, kComponent, "all");
    idx.real.insert(all.real.begin(), all.real.end());
    for (auto& [name, by] : all.provided) idx.provided[name].insert(by.begin(), by.end());
  }

  std::vector<std::string> names;  // for suggestions, filled on the first miss
  for (const auto& [field, spec] : named_packages(r)) {
    const std::string name = bare_package_name(spec);
    const size_t line = recipe_line(r, field);
    ++out.packages_checked;
    if (idx.real.count(name)) continue;
    if (auto p = idx.provided.find(name); p != idx.provided.end()) {
      if (p->second.size() > 1)
        out.findings.push_back({line,
                                "'" + name + "' is a virtual package, provided by " + join(p->second, 5) +
                                    ": apt takes it only when one of those is named too or already installed",
                                "name the provider you want (e.g. " + *p->second.begin() + ")", false});
      continue;
    }
    if (names.empty()) names.assign(idx.real.begin(), idx.real.end());
    const std::string table = field.substr(0, field.find('.'));
    out.findings.push_back({line,
                            "package '" + name + "' is not in " + r.suite + " " + kComponent + " for " + kArch + " on " + where,
                            did_you_mean(name, names) + "correct the name in [" + table + "] (apt-cache policy NAME on a " +
                                r.suite + " host shows it), or remove it"});
  }
  return out;
}

std::string format_finding(const Recipe& r, const RecipeFinding& f) {
  std::string s = (f.error ? "" : "warning: ") + r.path;
  if (f.line) s += " line " + std::to_string(f.line);
  s += ": " + f.message;
  if (!f.fix.empty()) s += "\n  fix: " + f.fix;
  return s;
}

}  // namespace grappe::build
