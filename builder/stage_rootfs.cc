// rootfs: a Debian root filesystem from mmdebstrap, with the kernel package, and with every
// per-machine identity removed (machine-id, dbus id, ssh host keys) so no two nodes share one.
#include <algorithm>
#include <set>

#include "error.h"
#include "fsutil.h"
#include "hash.h"
#include "stages.h"

namespace fs = std::filesystem;

namespace grappe::build {
namespace {

std::vector<std::string> rootfs_packages(const Recipe& r) {
  std::set<std::string> s(r.packages.begin(), r.packages.end());
  s.insert(r.kernel_package);
  s.insert("systemd-sysv");
  return {s.begin(), s.end()};
}

void strip_identity(const fs::path& root) {
  std::error_code ec;
  write_file_atomic(root / "etc/machine-id", "", 0444);
  fs::remove(root / "var/lib/dbus/machine-id", ec);
  if (fs::is_directory(root / "etc/ssh", ec))
    for (const auto& e : fs::directory_iterator(root / "etc/ssh"))
      if (e.path().filename().string().rfind("ssh_host_", 0) == 0) fs::remove(e.path(), ec);
  fs::remove(root / "etc/hostname", ec);
  for (const char* d : {"var/lib/apt/lists", "var/cache/apt/archives"}) {
    if (!fs::is_directory(root / d, ec)) continue;
    for (const auto& e : fs::directory_iterator(root / d))
      if (e.is_regular_file()) fs::remove(e.path(), ec);
  }
  for (const char* f : {"var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin"}) fs::remove(root / f, ec);
}

}  // namespace

Stage rootfs_stage() {
  Stage s;
  s.name = "rootfs";
  s.nice = 5;  // beside the compile chain (pipeline.h)
  s.key = [](BuildContext& ctx) {
    Sha256 h = stage_key(ctx, "rootfs/2");
    h.field("suite", ctx.recipe.suite).field("mirror", ctx.mirror);
    h.field("variant", ctx.recipe.variant).field("epoch", std::to_string(ctx.recipe.source_date_epoch));
    for (const auto& p : rootfs_packages(ctx.recipe)) h.field("pkg", p);
    h.field("mmdebstrap", package_version(ctx, "mmdebstrap"));
    return h.hex();
  };
  s.build = [](BuildContext& ctx, const fs::path& tmp, const std::string& log) {
    fs::create_directories(tmp);
    // Straight into the stage's directory (no tar to write and unpack), dpkg without an fsync
    // per file (an interrupted stage starts over; the setting is removed below, so the image's
    // own dpkg syncs as usual). INITRD=No: the kernel package's hook builds no initrd of its own
    // (9 s of CPU; it was left out of the image anyway, whose initramfs is grappe's).
    std::error_code ec;
    RunOptions no_initrd;
    no_initrd.env["INITRD"] = "No";
    mmdebstrap_into(ctx, ctx.recipe.variant, rootfs_packages(ctx.recipe), tmp, log, no_initrd);
    const fs::path unsafe = tmp / "etc/dpkg/dpkg.cfg.d/99mmdebstrap";  // holds only --dpkgopt's
    if (fs::remove(unsafe, ec); fs::exists(unsafe))
      throw Error("cannot remove the build's dpkg setting (force-unsafe-io) from the rootfs", unsafe.string(),
                  ec ? ec.message() + "; check the cache directory's filesystem" : "check the cache directory's filesystem");
    strip_identity(tmp);
    if (!fs::exists(tmp / "sbin/init") && !fs::exists(tmp / "usr/sbin/init"))
      throw Error("the rootfs has no /sbin/init", tmp.string(), "keep systemd-sysv in [rootfs] packages");
  };
  return s;
}

}  // namespace grappe::build
