// What an image is made of: usr/share/grappe/manifest.json in its node layer, and out/manifest.json
// beside it. The recipe's hash, the build id, and every package installed in the root filesystem
// with its version and architecture, as its dpkg database says.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "context.h"

namespace grappe::build {

// The installed packages in `dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n'`
// output, as [{name, version, arch}] in its order; lines of packages not installed ("ii") and
// malformed lines are left out.
nlohmann::json installed_packages(const std::string& dpkg_query_output);
// The manifest of the image `ctx` builds, its packages read from the rootfs stage's dpkg database.
nlohmann::json image_manifest(BuildContext& ctx);

}  // namespace grappe::build
