// initramfs: grappe-init as /init, the closure of the boot modules (decompressed, with their own
// small modules.dep/modules.alias for coldplug), busybox for DHCP and the debug shell, and the
// build's identity (volume label, build id) so init finds exactly this image's medium.
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <fstream>
#include <set>

#include "../initramfs/modindex.h"
#include "error.h"
#include "fsutil.h"
#include "hash.h"
#include "stages.h"

namespace fs = std::filesystem;

namespace grappe::build {
namespace {

// The module index is grappe-init's (initramfs/modindex.h): the builder reads it the same way.
using init::ModuleIndex;
using init::module_name;
using init::strip_compression;

const char* kBusybox = "/bin/busybox";

std::vector<std::string> wanted_modules(const Recipe& r) {
  std::vector<std::string> v = r.initramfs_modules;
  v.insert(v.end(), r.initramfs_always.begin(), r.initramfs_always.end());
  return v;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// The modules the recipe wants, with their dependencies: paths relative to the kernel's module
// tree. A wanted module that is built into the kernel is logged; any other missing one is an error.
std::vector<std::string> module_closure(const BuildContext& ctx, const ModuleIndex& idx, const fs::path& modtree,
                                        std::ofstream& lg) {
  std::set<std::string> builtin;
  if (fs::exists(modtree / "modules.builtin")) {
    std::istringstream in(read_file(modtree / "modules.builtin"));
    for (std::string l; std::getline(in, l);) builtin.insert(module_name(l));
  }
  std::vector<std::string> missing;
  auto paths = idx.closure(wanted_modules(ctx.recipe), &missing);
  for (const auto& m : missing) {
    if (builtin.count(m)) {
      lg << "built into the kernel: " << m << "\n";
      continue;
    }
    throw Error("initramfs module '" + m + "' is neither a module of kernel " + ctx.kernel_version + " nor built in",
                ctx.recipe.path + " [initramfs]", "correct the name, or drop it if its tree was trimmed in [kernel] trim");
  }
  return paths;
}

// /init, busybox, the DHCP hook and the device nodes the kernel needs before devtmpfs.
void lay_skeleton(const BuildContext& ctx, const fs::path& root) {
  for (const char* d : {"bin", "dev", "proc", "sys", "run", "newroot", "etc", "lib/grappe", "tmp"})
    fs::create_directories(root / d);
  ::mknod((root / "dev/console").c_str(), S_IFCHR | 0600, makedev(5, 1));
  ::mknod((root / "dev/null").c_str(), S_IFCHR | 0666, makedev(1, 3));
  fs::copy_file(ctx.init_binary, root / "init");
  fs::permissions(root / "init", fs::perms(0755));
  fs::copy_file(kBusybox, root / "bin/busybox");
  fs::create_symlink("busybox", root / "bin/sh");
  fs::copy_file(ctx.repo / "initramfs/udhcpc.script", root / "lib/grappe/udhcpc.script");
  fs::permissions(root / "lib/grappe/udhcpc.script", fs::perms(0755));
}

// The modules, decompressed, plus an index (modules.dep, modules.alias) restricted to them.
void copy_modules(BuildContext& ctx, const ModuleIndex& idx, const std::vector<std::string>& paths,
                  const fs::path& modtree, const fs::path& mdst, const std::string& log) {
  fs::create_directories(mdst);
  std::set<std::string> names;
  std::string dep_text, alias_text;
  for (const auto& p : paths) {
    names.insert(module_name(p));
    fs::path dst = mdst / strip_compression(p);
    fs::create_directories(dst.parent_path());
    if (strip_compression(p) == p) {
      fs::copy_file(modtree / p, dst);
    } else {
      RunOptions o;
      o.stdout_path = dst.string();
      run_logged(ctx, {"xz", "-dc", (modtree / p).string()}, log, o);
    }
    dep_text += strip_compression(p) + ":";
    for (const auto& d : idx.deps.at(p)) dep_text += " " + strip_compression(d);
    dep_text += "\n";
  }
  for (const auto& [pattern, name] : idx.aliases)
    if (names.count(name)) alias_text += "alias " + pattern + " " + name + "\n";
  write_file_atomic(mdst / "modules.dep", dep_text);
  write_file_atomic(mdst / "modules.alias", alias_text);
}

// The tree as a reproducible newc cpio (sorted, fixed times and owner), zstd-compressed.
void pack(BuildContext& ctx, const fs::path& root, const fs::path& tmp, const std::string& log) {
  const std::string epoch = std::to_string(ctx.recipe.source_date_epoch);
  run_logged(ctx,
             {"/bin/sh", "-ec",
              "cd \"$1\" && find . -exec touch -h -d @\"$2\" {} + && "
              "find . -print0 | LC_ALL=C sort -z | cpio --quiet --null -o -H newc --reproducible -R 0:0 > ../initrd.cpio",
              "sh", root.string(), epoch},
             log);
  // Level 15: 6.7 MB in 5.6 s of CPU; -19 saved 0.8 MB for 14 s, on the build's critical path.
  run_logged(ctx, {"zstd", "-q", "-15", "-T0", (tmp / "initrd.cpio").string(), "-o", (tmp / "initrd.img").string()}, log);
  fs::remove(tmp / "initrd.cpio");
}

}  // namespace

Stage initramfs_stage() {
  Stage s;
  s.name = "initramfs";
  s.nice = 5;  // beside the compile chain (pipeline.h)
  s.key = [](BuildContext& ctx) {
    Sha256 h = stage_key(ctx, "initramfs/3", {"kernel"});
    h.field("init", sha256_file(ctx.init_binary)).field("busybox", sha256_file(kBusybox));
    h.field("udhcpc", sha256_file(ctx.repo / "initramfs/udhcpc.script"));
    for (const auto& m : ctx.recipe.initramfs_modules) h.field("mod", m);
    for (const auto& m : ctx.recipe.initramfs_always) h.field("always", m);
    h.field("label", ctx.recipe.volume_label).field("build", ctx.build_id);
    // The boot public key checks announcements and admission replies; the cluster key itself
    // never goes into the initrd (it is served to any PC that asks).
    h.field("pub", boot_public_hex(ctx.cluster_key));
    h.field("epoch", std::to_string(ctx.recipe.source_date_epoch));
    return h.hex();
  };
  s.build = [](BuildContext& ctx, const fs::path& tmp, const std::string& log) {
    const fs::path rootfs = ctx.outputs.at("rootfs");
    const fs::path kdir = ctx.outputs.at("kernel");
    const std::string ver = ctx.kernel_version;
    fs::path modrel;
    for (const char* d : {"usr/lib/modules", "lib/modules"})
      if (fs::is_directory(kdir / "modmeta" / d)) modrel = fs::path(d) / ver;
    const fs::path meta = kdir / "modmeta" / modrel;

    ModuleIndex idx;
    idx.add_dep_text(read_file(meta / "modules.dep"));
    idx.add_alias_text(read_file(meta / "modules.alias"));
    std::ofstream lg(log, std::ios::app);
    const auto paths = module_closure(ctx, idx, rootfs / modrel, lg);

    const fs::path root = tmp / "root";
    lay_skeleton(ctx, root);
    copy_modules(ctx, idx, paths, rootfs / modrel, root / "lib/modules" / ver, log);
    lg << "modules in the initramfs (" << paths.size() << "):\n" << join(paths, "\n") << "\n";
    lg.close();

    std::string conf = "label=" + ctx.recipe.volume_label + "\nbuild=" + ctx.build_id + "\nkernel=" + ver +
                       "\nlayers=base.squashfs node.squashfs\nalways=" + join(ctx.recipe.initramfs_always, " ") +
                       "\ncluster=" + ctx.recipe.cluster_name + "\npub=" + boot_public_hex(ctx.cluster_key) + "\n";
    write_file_atomic(root / "etc/grappe-init.conf", conf);
    pack(ctx, root, tmp, log);
    fs::remove_all(root);
  };
  s.adopt = [](BuildContext&, const fs::path& out) {
    return "initrd.img " + human_size(fs::file_size(out / "initrd.img"));
  };
  return s;
}

}  // namespace grappe::build
