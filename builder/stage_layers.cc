// base + node layers: two squashfs images stacked by grappe-init under overlayfs (node on top).
// The base is the big Debian rootfs and only changes with the package set or kernel trimming;
// the node layer is small, so a change to overlay/ or userland/ rebuilds only it.
#include <fstream>

#include "fsutil.h"
#include "hash.h"
#include "stages.h"

namespace fs = std::filesystem;

namespace grappe::build {
namespace {

Stage layer_stage(const std::string& name, const std::string& file,
                  std::function<std::string(BuildContext&)> input_key,
                  std::function<fs::path(BuildContext&)> source,
                  std::function<std::string(BuildContext&)> exclude) {
  Stage s;
  s.name = name;
  s.key = [=](BuildContext& ctx) {
    Sha256 h = stage_key(ctx, name + "/1");
    h.field("input", input_key(ctx)).field("args", squashfs_args_key(ctx));
    h.field("mksquashfs", package_version(ctx, "squashfs-tools"));
    return h.hex();
  };
  s.build = [=](BuildContext& ctx, const fs::path& tmp, const std::string& log) {
    fs::create_directories(tmp);
    make_squashfs(ctx, source(ctx).string(), (tmp / file).string(), exclude(ctx), log);
    std::ofstream(tmp / (file + ".sha256")) << sha256_file(tmp / file) << "  " << file << "\n";
  };
  s.adopt = [=](BuildContext&, const fs::path& out) {
    return file + " " + human_size(fs::file_size(out / file));
  };
  return s;
}

}  // namespace

Stage base_layer_stage() {
  Stage s = layer_stage(
      "base", "base.squashfs",
      [](BuildContext& ctx) { return ctx.keys.at("rootfs") + ctx.keys.at("kernel"); },
      [](BuildContext& ctx) { return ctx.outputs.at("rootfs"); },
      [](BuildContext& ctx) { return (ctx.outputs.at("kernel") / "exclude.txt").string(); });
  s.nice = 5;  // beside the compile chain (pipeline.h)
  return s;
}

Stage node_layer_stage() {
  return layer_stage(
      "node", "node.squashfs", [](BuildContext& ctx) { return ctx.keys.at("overlay"); },
      [](BuildContext& ctx) { return ctx.outputs.at("overlay"); }, [](BuildContext&) { return std::string(); });
}

}  // namespace grappe::build
