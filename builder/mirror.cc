#include "mirror.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "error.h"

namespace fs = std::filesystem;

namespace grappe::build {
namespace {

bool looks_like_debian_archive(const std::string& uri) {
  std::string u = uri;
  while (!u.empty() && u.back() == '/') u.pop_back();
  if (u.find("security") != std::string::npos) return false;
  auto slash = u.rfind('/');
  std::string last = slash == std::string::npos ? u : u.substr(slash + 1);
  return last == "debian" && (u.rfind("http", 0) == 0 || u.rfind("file:", 0) == 0);
}

}  // namespace

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> w;
  for (std::string x; in >> x;) w.push_back(x);
  return w;
}


std::string mirror_from_sources(const std::string& text, bool deb822) {
  std::istringstream in(text);
  std::string line;
  if (!deb822) {
    while (std::getline(in, line)) {
      auto w = words(line.substr(0, line.find('#')));
      size_t i = 1;
      if (w.empty() || w[0] != "deb") continue;
      if (i < w.size() && w[i].front() == '[') {
        while (i < w.size() && w[i].back() != ']') ++i;
        ++i;
      }
      if (i < w.size() && looks_like_debian_archive(w[i])) return w[i];
    }
    return "";
  }
  // deb822: stanzas separated by blank lines.
  std::string types, uris;
  auto flush = [&]() -> std::string {
    std::string found;
    auto t = words(types);
    if (std::find(t.begin(), t.end(), "deb") != t.end())
      for (const auto& u : words(uris))
        if (looks_like_debian_archive(u)) { found = u; break; }
    types.clear();
    uris.clear();
    return found;
  };
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      if (auto f = flush(); !f.empty()) return f;
      continue;
    }
    if (line[0] == '#') continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon), val = line.substr(colon + 1);
    if (key == "Types") types = val;
    if (key == "URIs") uris = val;
  }
  return flush();
}

std::string host_mirror(const std::string& etc_dir) {
  auto read = [](const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  fs::path apt = fs::path(etc_dir) / "apt";
  if (auto m = mirror_from_sources(read(apt / "sources.list"), false); !m.empty()) return m;
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(apt / "sources.list.d", ec)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    if (f.extension() == ".list" || f.extension() == ".sources")
      if (auto m = mirror_from_sources(read(f), f.extension() == ".sources"); !m.empty()) return m;
  }
  return "";
}

std::string choose_mirror(const std::string& cli, const std::string& recipe, const std::string& etc_dir) {
  if (!cli.empty()) return cli;
  if (const char* e = std::getenv("GRAPPE_MIRROR"); e && *e) return e;
  if (!recipe.empty()) return recipe;
  if (auto m = host_mirror(etc_dir); !m.empty()) return m;
  throw Error("no Debian mirror known", etc_dir + "/apt/sources.list{,.d}",
              "configure apt on this host, or pass --mirror URL (or set GRAPPE_MIRROR)");
}

}  // namespace grappe::build
