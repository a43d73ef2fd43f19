// iso: one hybrid image for CD and USB, BIOS and UEFI: isolinux El Torito entry + isohybrid MBR
// for BIOS, a GRUB EFI image in a FAT El Torito entry + GPT for UEFI. The big files are grafted
// straight from the cache; nothing is copied twice.
#include <sys/stat.h>
#include <functional>
#include <ctime>
#include <sstream>
#include <fstream>

#include "bootmenu.h"
#include "error.h"
#include "fsutil.h"
#include "hash.h"
#include "stages.h"

namespace fs = std::filesystem;

namespace grappe::build {
namespace {

const char* kIsolinux = "/usr/lib/ISOLINUX/isolinux.bin";
const char* kIsohdpfx = "/usr/lib/ISOLINUX/isohdpfx.bin";
const char* kSyslinuxModules = "/usr/lib/syslinux/modules/bios";
const char* kGrubModules =
    "part_gpt part_msdos iso9660 fat search search_fs_file normal configfile linux echo test all_video "
    "serial terminal gzio";

std::string isolinux_entries(const std::vector<BootEntry>& es) {
  std::string s;
  for (const auto& e : es)
    s += "LABEL " + e.id + "\n  MENU LABEL " + e.title + "\n  LINUX /boot/vmlinuz\n  INITRD /boot/initrd.img\n  APPEND " +
         e.cmdline + "\n\n";
  return s;
}

std::string grub_entries(const std::vector<BootEntry>& es) {
  std::string s;
  for (const auto& e : es)
    s += "menuentry \"" + e.title + "\" --id " + e.id + " {\n  linux /boot/vmlinuz " + e.cmdline +
         "\n  initrd /boot/initrd.img\n}\n";
  return s;
}

std::string iso_date(int64_t epoch) {  // YYYYMMDDhhmmsscc, UTC
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S00", &tm);
  return buf;
}

// BOOTX64.EFI (a standalone GRUB whose embedded config finds this build's stamp) and the FAT
// image El Torito's UEFI entry points at, both under `stage`.
void make_efi_image(BuildContext& ctx, const fs::path& stage, const fs::path& tmp,
                    const std::function<void(const fs::path&)>& render_embed, const std::string& log) {
  const auto& r = ctx.recipe;
  const fs::path work = tmp.string() + ".efi";
  remove_tree_safely(work);
  fs::create_directories(work);
  render_embed(work / "embed.cfg");
  const fs::path efi = stage / "EFI/BOOT/BOOTX64.EFI";
  // What grub-mkstandalone does, minus its timestamps: a memdisk holding only the embedded config
  // (every module the boot needs is built in, and the config moves $prefix to the medium), as a
  // tar whose names, order, owners, modes and mtimes are fixed, so two builds give the same bytes.
  const fs::path md = work / "memdisk";
  fs::create_directories(md / "boot/grub");
  fs::copy_file(work / "embed.cfg", md / "boot/grub/grub.cfg");
  const std::string tar = (work / "memdisk.tar").string();
  run_logged(ctx,
             {"tar", "--sort=name", "--mtime=@" + std::to_string(r.source_date_epoch), "--owner=0", "--group=0",
              "--numeric-owner", "--mode=u=rwX,go=rX", "--format=ustar", "-cf", tar, "-C", md.string(), "boot"},
             log);
  std::vector<std::string> mkimage = {"grub-mkimage", "-O", "x86_64-efi", "-o", efi.string(), "-p", "(memdisk)/boot/grub",
                                      "-m", tar, "memdisk", "tar"};
  std::istringstream mods(kGrubModules);
  for (std::string m; mods >> m;) mkimage.push_back(m);
  run_logged(ctx, mkimage, log);
  const fs::path img = stage / "boot/grub/efi.img";
  const uintmax_t kb = fs::file_size(efi) / 1024 + 512;
  run_logged(ctx, {"touch", "-d", "@" + std::to_string(r.source_date_epoch), efi.string()}, log);
  std::error_code ec;
  fs::remove(img, ec);
  run_logged(ctx, {"mkfs.fat", "--invariant", "-n", "GRAPPE_EFI", "-C", img.string(), std::to_string(kb)}, log);
  RunOptions mt;
  mt.env["MTOOLS_SKIP_CHECK"] = "1";
  run_logged(ctx, {"mmd", "-i", img.string(), "::/EFI", "::/EFI/BOOT"}, log, mt);
  run_logged(ctx, {"mcopy", "-m", "-i", img.string(), efi.string(), "::/EFI/BOOT/BOOTX64.EFI"}, log, mt);
  fs::remove_all(work);
}

// The hybrid ISO: isolinux (El Torito #1, isohybrid MBR), GRUB EFI (El Torito #2, GPT), the boot
// chain, the layers and what a CD-booted node needs to serve network boot.
void write_iso(BuildContext& ctx, const fs::path& stage, const fs::path& tmp, const std::string& log) {
  const auto& r = ctx.recipe;
  run_logged(ctx,
             {"xorriso", "-as", "mkisofs", "-o", tmp.string(), "-iso-level", "3", "-full-iso9660-filenames",
              "-joliet", "-joliet-long", "-rational-rock", "-volid", r.volume_label, "-appid",
              "Grappe cluster node " + ctx.build_id, "-publisher", "Grappe", "--modification-date=" + iso_date(r.source_date_epoch),
              "--set_all_file_dates", iso_date(r.source_date_epoch),
              "-isohybrid-mbr", kIsohdpfx, "-eltorito-boot", "isolinux/isolinux.bin", "-eltorito-catalog",
              "isolinux/boot.cat", "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
              "-eltorito-alt-boot", "-e", "boot/grub/efi.img", "-no-emul-boot", "-isohybrid-gpt-basdat",
              "-graft-points", stage.string(),
              "boot/vmlinuz=" + (ctx.outputs.at("kernel") / "vmlinuz").string(),
              "boot/initrd.img=" + (ctx.outputs.at("initramfs") / "initrd.img").string(),
              "live/base.squashfs=" + (ctx.outputs.at("base") / "base.squashfs").string(),
              "live/node.squashfs=" + (ctx.outputs.at("node") / "node.squashfs").string(),
              // What a node booted from this CD needs to serve network boot (boot_service.h).
              "pxe/boot.ipxe=" + (ctx.outputs.at("pxe") / "boot.ipxe").string(),
              "pxe/undionly.kpxe=" + (ctx.outputs.at("pxe") / "undionly.kpxe").string(),
              "pxe/snponly.efi=" + (ctx.outputs.at("pxe") / "snponly.efi").string()},
             log);
}

}  // namespace

Stage iso_stage() {
  Stage s;
  s.name = "iso";
  s.output = [](BuildContext& ctx, const std::string&) { return ctx.out / "grappe-amd64.iso"; };
  s.key = [](BuildContext& ctx) {
    Sha256 h = stage_key(ctx, "iso/3", {"kernel", "initramfs", "base", "node", "pxe"});
    h.field("tool", ctx.tool_hash);
    h.field("templates", sha256_tree(ctx.repo / "iso")).field("label", ctx.recipe.volume_label);
    h.field("default", ctx.recipe.default_entry).field("timeout", std::to_string(ctx.recipe.timeout_s));
    h.field("cmdline", ctx.recipe.cmdline).field("epoch", std::to_string(ctx.recipe.source_date_epoch));
    h.field("key", sha256_hex(ctx.cluster_key));
    for (const char* p : {"xorriso", "isolinux", "grub-efi-amd64-bin", "grub-common", "tar", "mtools", "dosfstools"})
      h.field(p, package_version(ctx, p));
    return h.hex();
  };
  s.build = [](BuildContext& ctx, const fs::path& tmp, const std::string& log) {
    const fs::path stage = tmp.string() + ".d";
    remove_tree_safely(stage);
    for (const char* d : {"isolinux", "boot/grub", "EFI/BOOT", "grappe", "live"}) fs::create_directories(stage / d);
    auto entries = boot_entries(ctx.recipe, ctx.build_id);
    const auto& r = ctx.recipe;
    std::vector<std::pair<std::string, std::string>> vars = {
        {"BUILD_ID", ctx.build_id},
        {"DEFAULT", r.default_entry},
        {"TIMEOUT", std::to_string(r.timeout_s)},
        {"TIMEOUT_DS", std::to_string(r.timeout_s > 0 ? r.timeout_s * 10 : 1)},
    };
    auto render = [&](const std::string& tpl, const std::string& entries_text, const fs::path& dst) {
      auto v = vars;
      v.emplace_back("ENTRIES", entries_text);
      write_file_atomic(dst, render_template(read_file(ctx.repo / "iso" / tpl), v, "iso/" + tpl));
    };

    // BIOS: isolinux and its menu.
    fs::copy_file(kIsolinux, stage / "isolinux/isolinux.bin");
    for (const char* m : {"ldlinux.c32", "menu.c32", "libutil.c32", "libcom32.c32"})
      fs::copy_file(fs::path(kSyslinuxModules) / m, stage / "isolinux" / m);
    render("isolinux.cfg.in", isolinux_entries(entries), stage / "isolinux/isolinux.cfg");

    // UEFI: a standalone GRUB that finds this build's stamp file, inside a FAT image.
    render("grub.cfg.in", grub_entries(entries), stage / "boot/grub/grub.cfg");
    make_efi_image(ctx, stage, tmp, [&](const fs::path& dst) { render("grub-embed.cfg.in", "", dst); }, log);

    // Identity of this build and the checksums of the layers and of every file network boot serves
    // (the same list as out/pxe/SHA256SUMS: this node may serve it).
    write_file_atomic(stage / "grappe" / ctx.build_id, ctx.build_id + "\n");
    write_file_atomic(stage / "live/SHA256SUMS", read_file(ctx.outputs.at("pxe") / "SHA256SUMS"));
    // The cluster key: owning the medium is being invited. Only here, never in what network boot
    // serves; grappe-init mounts the medium for root alone and copies it to /etc/grappe (0600).
    write_file_atomic(stage / "grappe/cluster.key", ctx.cluster_key + "\n", 0600);

    const mode_t old_mask = ::umask(077);  // the ISO carries the key: never world-readable, not even while written
    try {
      write_iso(ctx, stage, tmp, log);
    } catch (...) {
      ::umask(old_mask);
      throw;
    }
    ::umask(old_mask);
    remove_tree_safely(stage);
    fs::permissions(tmp, fs::perms::owner_read | fs::perms::owner_write);  // it carries the key
  };
  s.adopt = [](BuildContext&, const fs::path& out) { return out.filename().string() + " " + human_size(fs::file_size(out)); };
  return s;
}

}  // namespace grappe::build
