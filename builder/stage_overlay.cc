// overlay: the tree of the node layer, everything Grappe adds on top of Debian: overlay/ files
// (systemd units, /etc/grappe defaults), the node programs, the trimmed module index and the
// cluster key. It becomes the small upper squashfs, so changing any of it never rebuilds the base.
#include <nlohmann/json.hpp>

#include "error.h"
#include "fsutil.h"
#include "hash.h"
#include "stages.h"

namespace fs = std::filesystem;

namespace grappe {

Stage overlay_stage() {
  Stage s;
  s.name = "overlay";
  s.key = [](BuildContext& ctx) {
    Sha256 h;
    h.field("stage", "overlay/1").field("overlay", sha256_tree(ctx.repo / "overlay"));
    for (const auto& e : ctx.extra_overlays) h.field("extra", sha256_tree(e));
    h.field("userland", ctx.keys.at("userland")).field("kernel", ctx.keys.at("kernel"));
    h.field("cluster", ctx.recipe.cluster_name).field("key", sha256_hex(ctx.cluster_key));
    h.field("name", ctx.recipe.name);
    // The build id names the boot chain (kernel, modules, base layer) that the initramfs is
    // made for; it does not change with overlay/ or userland/, so neither does the initramfs.
    ctx.build_id = Sha256()
                       .field("rootfs", ctx.keys.at("rootfs"))
                       .field("kernel", ctx.keys.at("kernel"))
                       .field("label", ctx.recipe.volume_label)
                       .hex()
                       .substr(0, 16);
    return h.hex();
  };
  s.build = [](BuildContext& ctx, const fs::path& tmp, const std::string& log) {
    fs::create_directories(tmp);
    auto copy_in = [&](const fs::path& src) {
      run_logged(ctx, {"cp", "-a", "--no-preserve=ownership", (src / ".").string(), tmp.string() + "/"}, log);
    };
    copy_in(ctx.repo / "overlay");
    for (const auto& e : ctx.extra_overlays) copy_in(e);
    copy_in(ctx.outputs.at("userland"));
    copy_in(ctx.outputs.at("kernel") / "modmeta");
    run_logged(ctx, {"chown", "-R", "0:0", tmp.string()}, log);
    fs::create_directories(tmp / "etc/grappe");
    write_file_atomic(tmp / "etc/grappe/cluster.key", ctx.cluster_key + "\n", 0600);
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
  };
  return s;
}

}  // namespace grappe
