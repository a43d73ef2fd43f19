#include "apt_meta.h"
#include "mirror.h"

#include <sstream>

namespace grappe::build {
namespace {

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

}  // namespace

ReleaseFile parse_release(const std::string& text) {
  ReleaseFile r;
  std::istringstream in(text);
  std::string line, section;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] == ' ' || line[0] == '\t') {  // continuation: a file line of the current hash section
      if (section != "SHA256") continue;
      auto w = words(line);
      if (w.size() != 3) continue;
      ReleaseFile::Entry e;
      e.sha256 = w[0];
      try {
        e.size = std::stoull(w[1]);
      } catch (const std::exception&) {
        continue;
      }
      r.files[w[2]] = e;
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    section = line.substr(0, colon);
    std::string value = trim(line.substr(colon + 1));
    if (section == "Suite") r.suite = value;
    else if (section == "Codename") r.codename = value;
    else if (section == "Components") r.components = words(value);
    else if (section == "Architectures") r.architectures = words(value);
    else if (section == "No-Support-for-Architecture-all") r.all_in_arch_indices = value == "Packages";
  }
  return r;
}

std::string bare_package_name(const std::string& spec) {
  std::string s = trim(spec);
  auto end = s.find_first_of(" \t(:=/<>");
  return end == std::string::npos ? s : s.substr(0, end);
}

void PackageIndex::add(std::istream& in) {
  std::string line, package, provides, field;
  auto flush = [&] {
    if (!package.empty()) {
      real.insert(package);
      std::string one;
      std::istringstream list(provides);
      while (std::getline(list, one, ','))
        if (auto name = bare_package_name(one); !name.empty()) provided[name].insert(package);
    }
    package.clear();
    provides.clear();
  };
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      flush();
      continue;
    }
    if (line[0] == ' ' || line[0] == '\t') {  // a folded field goes on
      if (field == "Provides") provides += " " + line;
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    field = line.substr(0, colon);
    if (field == "Package") package = trim(line.substr(colon + 1));
    else if (field == "Provides") provides = line.substr(colon + 1);
  }
  flush();
}

std::string PackageIndex::serialize() const {
  std::string out;
  for (const auto& n : real) out += "P " + n + "\n";
  for (const auto& [name, by] : provided)
    for (const auto& p : by) out += "V " + name + " " + p + "\n";
  return out;
}

PackageIndex PackageIndex::parse(const std::string& text) {
  PackageIndex idx;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto w = words(line);
    if (w.size() == 2 && w[0] == "P") idx.real.insert(w[1]);
    if (w.size() == 3 && w[0] == "V") idx.provided[w[1]].insert(w[2]);
  }
  return idx;
}

}  // namespace grappe::build
