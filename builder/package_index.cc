#include "package_index.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "fsutil.h"
#include "hash.h"
#include "common/text_file.h"

namespace fs = std::filesystem;

namespace grappe::build {
namespace {

// Removes its path on every exit.
struct TempFile {
  fs::path path;
  explicit TempFile(const std::string& tag)
      : path(fs::temp_directory_path() / ("grappe-index-" + std::to_string(::getpid()) + "-" + tag)) {}
  ~TempFile() {
    std::error_code ec;
    fs::remove(path, ec);
  }
};

PackageIndex read_index(IndexSource& src, const std::string& rel, const std::string& data) {
  PackageIndex idx;
  const bool xz = rel.ends_with(".xz"), gz = rel.ends_with(".gz");
  if (!xz && !gz) {
    std::istringstream in(data);
    idx.add(in);
    return idx;
  }
  TempFile packed("packed"), plain("plain");
  write_file_atomic(packed.path, data, 0600);
  RunOptions opt;
  opt.stdin_path = packed.path.string();
  opt.stdout_path = plain.path.string();
  if (int st = src.runner.run({xz ? "xz" : "gzip", "-dc"}, opt); st != 0)
    throw Error("cannot decompress the mirror's package index", rel + " (" + (xz ? "xz" : "gzip") + " exit " +
                std::to_string(st) + ")", xz ? "install xz-utils" : "install gzip");
  std::ifstream in(plain.path);
  idx.add(in);
  return idx;
}

}  // namespace

PackageIndex load_package_index(IndexSource& src, const std::string& suite, const ReleaseFile& release,
                                const std::string& component, const std::string& arch) {
  const std::string dir = component + "/binary-" + arch + "/";
  for (const char* name : {"Packages.xz", "Packages.gz", "Packages"}) {
    const std::string rel = dir + name;
    auto entry = release.files.find(rel);
    if (entry == release.files.end()) continue;
    const std::string& want = entry->second.sha256;
    const fs::path cached = src.cache_dir.empty() ? fs::path() : src.cache_dir / "apt-index" / want;
    if (!cached.empty()) {
      if (auto text = try_read_file(cached.string())) return PackageIndex::parse(*text);
    }
    auto data = src.mirror.get("dists/" + suite + "/" + rel);
    if (!data) continue;  // Release lists indices a mirror need not carry (the uncompressed one)
    if (sha256_hex(*data) != want)
      throw Error("the mirror's package index does not match its Release file",
                  src.mirror.where() + "dists/" + suite + "/" + rel,
                  "the mirror may be updating: try again in a few minutes, or use another mirror (--mirror URL)");
    auto idx = read_index(src, rel, *data);
    if (!cached.empty()) {
      try {
        write_file_atomic(cached, idx.serialize());
      } catch (const std::exception&) {
        // A cache we may not write (check-recipe as a user on root's cache) only costs time.
      }
    }
    return idx;
  }
  throw Error("the mirror has no package index for " + component + " " + arch + " in " + suite,
              src.mirror.where() + "dists/" + suite + "/Release",
              "use a suite and mirror that carry " + component + " for " + arch);
}

}  // namespace grappe::build
