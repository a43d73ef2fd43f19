#include "manifest.h"

#include <sstream>
#include <vector>

#include "error.h"

namespace grappe::build {

nlohmann::json installed_packages(const std::string& out) {
  nlohmann::json pkgs = nlohmann::json::array();
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    for (size_t at = 0;;) {
      const size_t tab = line.find('\t', at);
      f.push_back(line.substr(at, tab == std::string::npos ? std::string::npos : tab - at));
      if (tab == std::string::npos) break;
      at = tab + 1;
    }
    if (f.size() == 4 && f[0].rfind("ii", 0) == 0 && !f[1].empty() && !f[2].empty())
      pkgs.push_back({{"name", f[1]}, {"version", f[2]}, {"arch", f[3]}});
  }
  return pkgs;
}

nlohmann::json image_manifest(BuildContext& ctx) {
  const auto db = ctx.outputs.at("rootfs") / "var/lib/dpkg";
  nlohmann::json pkgs = installed_packages(ctx.runner->capture(
      {"dpkg-query", "--admindir=" + db.string(), "-W", "-f=${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n"}));
  if (pkgs.empty())
    throw Error("cannot list the root filesystem's packages", db.string(),
                "check that the rootfs stage finished (remove its cache entry and build again)");
  return {{"v", 1},
          {"name", ctx.recipe.name},
          {"build_id", ctx.build_id},
          {"recipe_sha256", ctx.recipe_sha256},
          {"suite", ctx.recipe.suite},
          {"kernel", ctx.kernel_version},
          {"source_date_epoch", ctx.recipe.source_date_epoch},
          {"packages", pkgs}};
}

}  // namespace grappe::build
