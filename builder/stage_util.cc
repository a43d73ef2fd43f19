#include <regex>
#include <thread>

#include "boot/boot_keys.h"
#include "error.h"
#include "stages.h"

namespace grappe::build {

Sha256 stage_key(const BuildContext& ctx, std::string_view version, std::initializer_list<const char*> reads) {
  Sha256 h;
  h.field("stage", version);
  for (const char* stage : reads) {
    auto it = ctx.keys.find(stage);
    if (it == ctx.keys.end())
      throw Error("stage key " + std::string(version) + " reads stage " + stage + ", which has no key yet", stage,
                  "list the stages it reads after it in all_stages()");
    h.field(stage, it->second);
  }
  return h;
}

void run_logged(BuildContext& ctx, const std::vector<std::string>& argv, const std::string& log, RunOptions opt) {
  opt.log_path = log;
  opt.env["SOURCE_DATE_EPOCH"] = std::to_string(ctx.recipe.source_date_epoch);
  opt.env["LC_ALL"] = "C.UTF-8";
  if (!opt.on_line) opt.on_line = [&ctx](const std::string& l) { ctx.progress->line(ctx.stage, l); };
  int rc = ctx.runner->run(argv, opt);
  if (rc != 0)
    throw Error(argv[0] + " failed with status " + std::to_string(rc), join_argv(argv),
                "see " + log + " for the full output");
}

void mmdebstrap_into(BuildContext& ctx, const std::string& variant, const std::vector<std::string>& packages,
                     const std::filesystem::path& dir, const std::string& log, RunOptions opt) {
  std::string include;
  for (const auto& p : packages) include += (include.empty() ? "" : ",") + p;
  run_logged(ctx,
             {"mmdebstrap", "--mode=root", "--variant=" + variant, "--include=" + include,
              "--aptopt=Acquire::Retries \"3\"", "--dpkgopt=force-unsafe-io", "--format=directory",
              ctx.recipe.suite, dir.string(), "deb " + ctx.mirror + " " + ctx.recipe.suite + " main"},
             log, std::move(opt));
}

std::string package_version(BuildContext& ctx, const std::string& pkg) {
  try {
    return ctx.runner->capture({"dpkg-query", "-W", "-f=${Version}", pkg});
  } catch (const Error&) {
    throw Error("host package " + pkg + " is not installed", pkg, "run ./build.sh deps (or apt-get install " + pkg + ")");
  }
}

std::string boot_public_hex(const std::string& cluster_key_hex) {
  ClusterSecret k{};
  if (!parse_hex(cluster_key_hex, k)) throw Error("bad cluster key", "(64 hex characters expected)", "check out/cluster.key or [cluster] key");
  const std::string pub = to_hex(boot_signing_keys(k).pub);
  sodium_memzero(k.data(), k.size());
  return pub;
}

std::string squashfs_args_key(const BuildContext& ctx) {
  return ctx.recipe.compression + ":" + std::to_string(ctx.recipe.compression_level) + ":" +
         std::to_string(ctx.recipe.source_date_epoch);
}

void make_squashfs(BuildContext& ctx, const std::string& src, const std::string& dst,
                   const std::string& exclude_file, const std::string& log) {
  std::vector<std::string> argv = {"mksquashfs", src, dst, "-noappend", "-comp", ctx.recipe.compression,
                                   "-processors", std::to_string(ctx.jobs), "-b", "1M"};
  // Timestamps come from SOURCE_DATE_EPOCH (set by run_logged): mksquashfs refuses both.
  if (ctx.recipe.compression == "zstd")
    argv.insert(argv.end(), {"-Xcompression-level", std::to_string(ctx.recipe.compression_level)});
  if (!exclude_file.empty()) argv.insert(argv.end(), {"-wildcards", "-ef", exclude_file});
  run_logged(ctx, argv, log);
}

std::string render_template(const std::string& text, const std::vector<std::pair<std::string, std::string>>& vars,
                            const std::string& name) {
  std::string out;
  static const std::regex re("@([A-Z][A-Z0-9_]*)@");
  auto begin = std::sregex_iterator(text.begin(), text.end(), re);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    out.append(text, last, static_cast<size_t>(m.position()) - last);
    std::string k = m[1];
    bool found = false;
    for (const auto& [vk, vv] : vars)
      if (vk == k) { out += vv; found = true; break; }
    if (!found) throw Error("unknown placeholder @" + k + "@ in template", name, "use one of the variables the builder provides");
    last = static_cast<size_t>(m.position() + m.length());
  }
  out.append(text, last, std::string::npos);
  return out;
}

std::vector<Stage> all_stages() {
  // What each stage reads (Stage::after): the rootfs and kernel chain builds alongside the SDK
  // and userland compile; the layers and the initramfs as soon as their inputs are there.
  auto after = [](Stage s, std::vector<std::string> deps) {
    s.after = std::move(deps);
    return s;
  };
  return {after(rootfs_stage(), {}),
          after(kernel_stage(), {"rootfs"}),
          after(sdk_stage(), {}),
          after(userland_stage(), {"sdk"}),
          after(overlay_stage(), {"rootfs", "kernel", "userland"}),
          after(initramfs_stage(), {"rootfs", "kernel"}),
          after(base_layer_stage(), {"rootfs", "kernel"}),
          after(node_layer_stage(), {"overlay"}),
          after(pxe_stage(), {"kernel", "initramfs", "base", "node"}),
          after(iso_stage(), {"kernel", "initramfs", "base", "node", "pxe"})};
}

}  // namespace grappe::build
