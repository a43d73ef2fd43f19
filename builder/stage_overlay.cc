// overlay: the tree of the node layer, everything Grappe adds on top of Debian: overlay/ files
// (systemd units, /etc/grappe defaults), the node programs, the trimmed module index, image.json
// and the manifest (never the cluster key: the layers are served to any PC). It becomes the small upper squashfs, so changing any of it never rebuilds the base.
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "error.h"
#include "fsutil.h"
#include "hash.h"
#include "manifest.h"
#include "stages.h"

namespace fs = std::filesystem;

namespace grappe::build {
namespace {

// Every shared library a node program needs must be in the image: a missing one would only
// show at boot ("error while loading shared libraries"), so the build stops here instead.
void check_runtime_libraries(BuildContext& ctx, const fs::path& userland, const fs::path& rootfs, const std::string& log) {
  std::vector<std::string> missing;
  for (const auto& e : fs::recursive_directory_iterator(userland)) {
    if (!e.is_regular_file() || (e.status().permissions() & fs::perms::owner_exec) == fs::perms::none) continue;
    std::string dyn;
    try {
      dyn = ctx.runner->capture({"readelf", "-d", e.path().string()});
    } catch (const Error&) {
      continue;  // not an ELF file
    }
    std::istringstream in(dyn);
    for (std::string line; std::getline(in, line);) {
      auto a = line.find("Shared library: ["), b = line.rfind(']');
      if (a == std::string::npos || b == std::string::npos) continue;
      std::string lib = line.substr(a + 17, b - a - 17);
      bool found = false;
      for (const char* dir : {"usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu", "usr/lib", "lib"})
        found |= fs::exists(rootfs / dir / lib);
      if (!found) missing.push_back(lib + " (needed by " + fs::relative(e.path(), userland).string() + ")");
    }
  }
  std::ofstream(log, std::ios::app) << "runtime libraries checked: " << missing.size() << " missing\n";
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += "\n    " + m;
    throw Error("the image lacks shared libraries its programs need:" + list, ctx.recipe.path + " [rootfs] packages",
                "add the Debian packages that ship them (e.g. libsodium23 for libsodium.so.23) to [rootfs] packages");
  }
}

}  // namespace

const char* kDnsmasqTemplate = "iso/dnsmasq-boot.conf.in";

Stage overlay_stage() {
  Stage s;
  s.name = "overlay";
  s.key = [](BuildContext& ctx) {
    Sha256 h = stage_key(ctx, "overlay/2");
    h.field("overlay", sha256_tree(ctx.repo / "overlay"));
    for (const auto& e : ctx.extra_overlays) h.field("extra", sha256_tree(e));
    h.field("userland", ctx.keys.at("userland")).field("kernel", ctx.keys.at("kernel"));
    h.field("cluster", ctx.recipe.cluster_name).field("key", sha256_hex(ctx.cluster_key));
    h.field("name", ctx.recipe.name).field("recipe", ctx.recipe_sha256).field("manifest", "1");
    h.field("dnsmasq", sha256_hex(read_file(ctx.repo / kDnsmasqTemplate)));
    return h.hex();
  };
  s.build = [](BuildContext& ctx, const fs::path& tmp, const std::string& log) {
    check_runtime_libraries(ctx, ctx.outputs.at("userland"), ctx.outputs.at("rootfs"), log);
    fs::create_directories(tmp);
    auto copy_in = [&](const fs::path& src) {
      run_logged(ctx, {"cp", "-a", "--no-preserve=ownership", (src / ".").string(), tmp.string() + "/"}, log);
    };
    copy_in(ctx.repo / "overlay");
    for (const auto& e : ctx.extra_overlays) copy_in(e);
    copy_in(ctx.outputs.at("userland"));
    copy_in(ctx.outputs.at("kernel") / "modmeta");
    // The boot service renders dnsmasq's configuration from this template on the node.
    fs::create_directories(tmp / "usr/share/grappe");
    fs::copy_file(ctx.repo / kDnsmasqTemplate, tmp / "usr/share/grappe/dnsmasq-boot.conf.in");
    run_logged(ctx, {"chown", "-R", "0:0", tmp.string()}, log);
    // No cluster key here: the layers are served to any PC that asks. grappe-init puts it in place
    // from the medium or from an admission (boot_admit.h).
    fs::create_directories(tmp / "etc/grappe");
    nlohmann::json img = {
        {"name", ctx.recipe.name},
        {"build_id", ctx.build_id},
        {"cluster", ctx.recipe.cluster_name},
        {"key_fingerprint", sha256_hex(ctx.cluster_key).substr(0, 16)},
        {"kernel", ctx.kernel_version},
        {"suite", ctx.recipe.suite},
        {"source_date_epoch", ctx.recipe.source_date_epoch},
    };
    write_file_atomic(tmp / "etc/grappe/image.json", img.dump(2) + "\n", 0644);
    write_file_atomic(tmp / kManifest, image_manifest(ctx).dump(2) + "\n", 0644);
  };
  return s;
}

}  // namespace grappe::build
