#include "modindex.h"

#include <fnmatch.h>

#include <algorithm>
#include <functional>
#include <set>
#include <sstream>

namespace grappe::init {

std::string strip_compression(const std::string& path) {
  for (const char* ext : {".xz", ".zst", ".gz"}) {
    std::string e = ext;
    if (path.size() > e.size() && path.compare(path.size() - e.size(), e.size(), e) == 0)
      return path.substr(0, path.size() - e.size());
  }
  return path;
}

std::string module_name(const std::string& path) {
  std::string base = strip_compression(path);
  auto slash = base.rfind('/');
  if (slash != std::string::npos) base = base.substr(slash + 1);
  if (base.size() > 3 && base.compare(base.size() - 3, 3, ".ko") == 0) base.resize(base.size() - 3);
  std::replace(base.begin(), base.end(), '-', '_');
  return base;
}

bool under_any(const std::string& path, const std::vector<std::string>& trees) {
  for (auto t : trees) {
    while (!t.empty() && t.back() == '/') t.pop_back();
    if (path == t || (path.size() > t.size() && path.compare(0, t.size(), t) == 0 && path[t.size()] == '/'))
      return true;
  }
  return false;
}

void ModuleIndex::add_dep_text(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0) continue;
    std::string mod = line.substr(0, colon);
    std::istringstream rest(line.substr(colon + 1));
    std::vector<std::string> d;
    for (std::string x; rest >> x;) d.push_back(x);
    deps[mod] = d;
    by_name[module_name(mod)] = mod;
  }
}

void ModuleIndex::add_alias_text(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string kw, pattern, name;
    if (!(l >> kw >> pattern >> name) || kw != "alias") continue;
    std::replace(name.begin(), name.end(), '-', '_');
    aliases.emplace_back(pattern, name);
  }
}

std::vector<std::string> ModuleIndex::closure(const std::vector<std::string>& names,
                                              std::vector<std::string>* missing) const {
  std::set<std::string> out;
  for (auto n : names) {
    std::replace(n.begin(), n.end(), '-', '_');
    auto it = by_name.find(n);
    if (it == by_name.end()) {
      if (missing) missing->push_back(n);
      continue;
    }
    out.insert(it->second);
    auto d = deps.find(it->second);
    if (d != deps.end()) out.insert(d->second.begin(), d->second.end());
  }
  return {out.begin(), out.end()};
}

std::vector<std::string> ModuleIndex::load_order(const std::string& path) const {
  std::vector<std::string> order;
  std::set<std::string> seen{path};
  std::function<void(const std::string&)> visit = [&](const std::string& p) {
    auto d = deps.find(p);
    if (d == deps.end()) return;
    for (const auto& q : d->second) {
      if (!seen.insert(q).second) continue;
      visit(q);
      order.push_back(q);
    }
  };
  visit(path);
  return order;
}

std::vector<std::string> ModuleIndex::match(const std::string& modalias) const {
  std::vector<std::string> out;
  for (const auto& [pattern, name] : aliases)
    if (::fnmatch(pattern.c_str(), modalias.c_str(), 0) == 0 &&
        std::find(out.begin(), out.end(), name) == out.end())
      out.push_back(name);
  return out;
}

}  // namespace grappe::init
