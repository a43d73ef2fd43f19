// One Packages index of a suite (component, architecture), as the names it makes installable:
// from the stage cache when its SHA-256 (as the suite's Release gives it) was seen before, else
// fetched from the mirror, checked against that hash, decompressed (xz, gzip) and cached.
#pragma once
#include <filesystem>
#include <string>

#include "apt_meta.h"
#include "mirror_fetch.h"
#include "process.h"

namespace grappe::build {

struct IndexSource {
  MirrorFetcher& mirror;
  ProcessRunner& runner;                // runs xz -dc / gzip -dc
  std::filesystem::path cache_dir;      // the build cache; empty: nothing cached
};

// The cached names live at <cache_dir>/apt-index/<sha256 of the index file>, written atomically.
// Throws Error when the Release lists no such index or the mirror's file does not match it;
// MirrorUnreachable when the mirror cannot be asked.
PackageIndex load_package_index(IndexSource& src, const std::string& suite, const ReleaseFile& release,
                                 const std::string& component, const std::string& arch);

}  // namespace grappe::build
