// kernel: checks the Debian kernel's config against kernel/requirements, decides which module
// trees are trimmed from the image (recipe [kernel] trim), and regenerates the module index for
// what is left, so udev and grappe-init never look for a module that is not there.
#include <fstream>

#include "error.h"
#include "fsutil.h"
#include "hash.h"
#include "kernel_check.h"
#include "stages.h"

namespace fs = std::filesystem;

namespace grappe::build {
namespace {

fs::path modules_root(const fs::path& rootfs) {
  for (const char* d : {"usr/lib/modules", "lib/modules"})
    if (fs::is_directory(rootfs / d) && !fs::is_symlink(rootfs / d)) return d;
  throw Error("no kernel modules directory in the rootfs", rootfs.string(),
              "keep a kernel package such as linux-image-amd64 in [kernel] package");
}

std::string find_version(const fs::path& rootfs) {
  std::vector<std::string> versions;
  for (const auto& e : fs::directory_iterator(rootfs / modules_root(rootfs)))
    if (fs::exists(rootfs / "boot" / ("vmlinuz-" + e.path().filename().string())))
      versions.push_back(e.path().filename().string());
  if (versions.size() != 1)
    throw Error("expected exactly one installed kernel, found " + std::to_string(versions.size()), rootfs.string(),
                "install a single kernel package through [kernel] package");
  return versions[0];
}

}  // namespace

Stage kernel_stage() {
  Stage s;
  s.name = "kernel";
  s.nice = 5;  // beside the compile chain (pipeline.h)
  s.key = [](BuildContext& ctx) {
    Sha256 h = stage_key(ctx, "kernel/1", {"rootfs"});
    h.field("requirements", sha256_file(ctx.repo / "kernel/requirements"));
    for (const auto& t : ctx.recipe.trim) h.field("trim", t);
    h.field("kmod", package_version(ctx, "kmod"));
    return h.hex();
  };
  s.build = [](BuildContext& ctx, const fs::path& tmp, const std::string& log) {
    const fs::path rootfs = ctx.outputs.at("rootfs");
    const std::string ver = find_version(rootfs);
    const fs::path modrel = modules_root(rootfs) / ver;
    fs::create_directories(tmp);

    auto req_path = (ctx.repo / "kernel/requirements").string();
    auto reqs = parse_requirements(read_file(req_path), req_path);
    auto cfg = parse_kconfig(read_file(rootfs / "boot" / ("config-" + ver)));
    auto unmet = unmet_requirements(reqs, cfg);
    if (!unmet.empty()) {
      std::string list;
      for (const auto& u : unmet) list += "\n    " + u;
      throw Error("kernel " + ver + " (" + ctx.recipe.kernel_package + ") misses " + std::to_string(unmet.size()) +
                      " required options:" + list,
                  req_path, "choose a kernel package built with these options in the recipe's [kernel] package");
    }
    std::ofstream(log, std::ios::app) << "kernel " << ver << ": all " << reqs.size() << " requirements met\n";

    fs::copy_file(rootfs / "boot" / ("vmlinuz-" + ver), tmp / "vmlinuz");
    fs::copy_file(rootfs / "boot" / ("config-" + ver), tmp / "config");
    std::ofstream(tmp / "version") << ver << "\n";

    // Trimming: sizes and the exclude list for the base layer.
    std::ofstream excl(tmp / "exclude.txt");
    excl << "boot/initrd.img*\nboot/System.map*\n";
    uint64_t total = tree_size(rootfs / modrel), saved = 0;
    std::ofstream report(tmp / "trim-report.txt");
    for (const auto& t : ctx.recipe.trim) {
      fs::path p = rootfs / modrel / t;
      if (!fs::exists(p)) {
        report << t << ": not present\n";
        continue;
      }
      uint64_t sz = tree_size(p);
      saved += sz;
      report << t << ": " << human_size(sz) << "\n";
      excl << (modrel / t).generic_string() << "\n";
    }
    report << "modules total " << human_size(total) << ", trimmed " << human_size(saved) << ", kept "
           << human_size(total - saved) << "\n";
    std::ofstream(tmp / "trimmed-bytes") << saved << "\n";

    // depmod over a hard-linked copy without the trimmed trees.
    fs::path work = tmp / "depmod";
    fs::create_directories(work / "lib/modules");
    run_logged(ctx, {"cp", "-al", (rootfs / modrel).string(), (work / "lib/modules" / ver).string()}, log);
    for (const auto& t : ctx.recipe.trim) fs::remove_all(work / "lib/modules" / ver / t);
    // depmod rewrites index files by rename, so the hard-linked originals stay untouched.
    run_logged(ctx, {"depmod", "-b", work.string(), ver}, log);
    fs::path meta = tmp / "modmeta" / modrel;
    fs::create_directories(meta);
    for (const auto& e : fs::directory_iterator(work / "lib/modules" / ver))
      if (e.is_regular_file() && e.path().filename().string().rfind("modules.", 0) == 0)
        fs::copy_file(e.path(), meta / e.path().filename());
    fs::remove_all(work);
  };
  s.adopt = [](BuildContext& ctx, const fs::path& out) {
    auto v = read_file(out / "version");
    ctx.kernel_version = v.substr(0, v.find('\n'));
    // The build id names the boot chain (kernel, modules, base layer) that the initramfs is
    // made for; it does not change with overlay/ or userland/, so neither does the initramfs.
    ctx.build_id = Sha256()
                       .field("rootfs", ctx.keys.at("rootfs"))
                       .field("kernel", ctx.keys.at("kernel"))
                       .field("label", ctx.recipe.volume_label)
                       .hex()
                       .substr(0, 16);
    auto rep = read_file(out / "trim-report.txt");
    auto last = rep.substr(rep.rfind("modules total"));
    return "kernel " + ctx.kernel_version + "; " + last.substr(0, last.find('\n'));
  };
  return s;
}

}  // namespace grappe::build
