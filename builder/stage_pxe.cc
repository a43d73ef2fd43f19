// pxe: the network-boot bundle an admin serves with an existing DHCP server: kernel, initrd,
// the squashfs layers and their sha256, an iPXE script, Debian's iPXE loaders and a dnsmasq
// proxy-DHCP example.
#include "bootmenu.h"
#include "error.h"
#include "fsutil.h"
#include "hash.h"
#include "stages.h"

namespace fs = std::filesystem;

namespace grappe::build {
namespace {

const char* kIpxeDir = "/usr/lib/ipxe";

std::string first_word(const std::string& s) { return s.substr(0, s.find_first_of(" \t\n")); }

}  // namespace

Stage pxe_stage() {
  Stage s;
  s.name = "pxe";
  s.output = [](BuildContext& ctx, const std::string&) { return ctx.out / "pxe"; };
  s.key = [](BuildContext& ctx) {
    Sha256 h = stage_key(ctx, "pxe/3", {"kernel", "initramfs", "base", "node"});
    h.field("tool", ctx.tool_hash);
    h.field("templates", sha256_tree(ctx.repo / "iso")).field("default", ctx.recipe.default_entry);
    h.field("cmdline", ctx.recipe.cmdline).field("ipxe", package_version(ctx, "ipxe"));
    return h.hex();
  };
  s.build = [](BuildContext& ctx, const fs::path& tmp, const std::string&) {
    fs::create_directories(tmp);
    link_or_copy(ctx.outputs.at("kernel") / "vmlinuz", tmp / "vmlinuz");
    link_or_copy(ctx.outputs.at("initramfs") / "initrd.img", tmp / "initrd.img");
    std::string sums, hashes;
    for (const char* l : {"base", "node"}) {
      std::string file = std::string(l) + ".squashfs";
      link_or_copy(ctx.outputs.at(l) / file, tmp / file);
      std::string line = read_file(ctx.outputs.at(l) / (file + ".sha256"));
      sums += line;
      hashes += (hashes.empty() ? "" : ",") + first_word(line);
    }
    for (const char* f : {"undionly.kpxe", "snponly.efi", "ipxe.efi"}) {
      if (!fs::exists(fs::path(kIpxeDir) / f))
        throw Error("iPXE loader missing", std::string(kIpxeDir) + "/" + f, "install Debian's ipxe package (./build.sh deps)");
      fs::copy_file(fs::path(kIpxeDir) / f, tmp / f);
    }
    std::string entries;
    for (const auto& e : boot_entries(ctx.recipe, ctx.build_id))
      entries += ":" + e.id + "\nkernel ${grappe-base}vmlinuz initrd=initrd.img ${grappe-fetch} BOOTIF=01-${netX/mac:hexhyp} " +
                 e.cmdline + " ${grappe-extra} || goto retry\ngoto boot\n";
    std::vector<std::pair<std::string, std::string>> vars = {
        {"BUILD_ID", ctx.build_id}, {"DEFAULT", ctx.recipe.default_entry}, {"SHA256S", hashes}, {"ENTRIES", entries}};
    write_file_atomic(tmp / "boot.ipxe", render_template(read_file(ctx.repo / "iso/boot.ipxe.in"), vars, "iso/boot.ipxe.in"));
    write_file_atomic(tmp / "dnsmasq-proxy.conf.example",
                      render_template(read_file(ctx.repo / "iso/dnsmasq-proxy.conf.in"), vars, "iso/dnsmasq-proxy.conf.in"));
    // The layers first (what boot.ipxe's grappe.sha256 names), then every other file served, so a
    // network-booted node can check the copies it keeps to serve network boot itself.
    for (const char* f : {"vmlinuz", "initrd.img", "boot.ipxe", "undionly.kpxe", "snponly.efi", "ipxe.efi"})
      sums += sha256_file(tmp / f) + "  " + f + "\n";
    write_file_atomic(tmp / "SHA256SUMS", sums);
  };
  s.adopt = [](BuildContext&, const fs::path& out) { return out.string() + "/ " + human_size(tree_size(out)); };
  return s;
}

}  // namespace grappe::build
