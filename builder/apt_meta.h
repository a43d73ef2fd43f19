// A Debian archive's metadata, read as text: a suite's Release file (its components and the
// index files with their SHA-256) and a Packages index reduced to the names it makes installable.
#pragma once
#include <cstdint>
#include <istream>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace grappe::build {

struct ReleaseFile {
  std::string suite, codename;
  std::vector<std::string> components, architectures;
  bool all_in_arch_indices = false;  // "No-Support-for-Architecture-all: Packages"
  struct Entry {
    std::string sha256;
    uint64_t size = 0;
  };
  std::map<std::string, Entry> files;  // "main/binary-amd64/Packages.xz" -> its SHA-256 and size
};
ReleaseFile parse_release(const std::string& text);

// The names a Packages index makes installable: real packages, and virtual ones with the real
// packages that provide them.
struct PackageIndex {
  std::set<std::string> real;
  std::map<std::string, std::set<std::string>> provided;

  void add(std::istream& packages_text);  // a Packages file (stanzas of Package:, Provides: …)
  bool has(const std::string& name) const { return real.count(name) || provided.count(name); }
  // One line per name: "P name" or "V name provider"; read back by parse().
  std::string serialize() const;
  static PackageIndex parse(const std::string& text);
};

// The bare package name of a dependency-style spec: "libc6:amd64", "foo (>= 1.2)", "foo=1.2-3"
// and "foo/trixie" all name their package.
std::string bare_package_name(const std::string& spec);

}  // namespace grappe::build
