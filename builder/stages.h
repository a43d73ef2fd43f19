// The stages of an image build, in the order they run.
#pragma once
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "context.h"
#include "hash.h"
#include "pipeline.h"

namespace grappe::build {

Stage rootfs_stage();     // mmdebstrap: Debian rootfs with the kernel package
Stage kernel_stage();     // config check against kernel/requirements, module trimming, depmod
Stage sdk_stage();        // trixie SDK chroot (cached) for building the node programs
Stage userland_stage();   // userland/ built and installed inside the SDK chroot
Stage overlay_stage();    // overlay/ + userland + module index + image.json + manifest = the node layer tree
Stage initramfs_stage();  // grappe-init + module closure + busybox, as a cpio
Stage base_layer_stage(); // squashfs of the rootfs (trimmed)
Stage node_layer_stage(); // squashfs of the node layer tree
Stage pxe_stage();        // out/pxe bundle
Stage iso_stage();        // hybrid BIOS/UEFI CD/USB image (carrying pxe/'s script and loaders)

std::vector<Stage> all_stages();

// In the node layer tree (and copied to out/manifest.json): the recipe's hash, the build id and
// every package with its version.
inline constexpr const char* kManifest = "usr/share/grappe/manifest.json";

// Shared helpers for stage implementations.
// The start of every stage's cache key: its name and logic version ("kernel/1": bump it when the
// stage's logic changes), then the key of each stage it reads, in the order given. The stage adds
// its own inputs and returns hex().
Sha256 stage_key(const BuildContext& ctx, std::string_view version, std::initializer_list<const char*> reads = {});
void run_logged(BuildContext& ctx, const std::vector<std::string>& argv, const std::string& log,
                RunOptions opt = {});
std::string package_version(BuildContext& ctx, const std::string& pkg);
// mmdebstrap of `packages` from the build's suite and mirror straight into `dir` (which must not
// exist or be empty), dpkg without an fsync per file (--dpkgopt, in etc/dpkg/dpkg.cfg.d/99mmdebstrap).
void mmdebstrap_into(BuildContext& ctx, const std::string& variant, const std::vector<std::string>& packages,
                     const std::filesystem::path& dir, const std::string& log, RunOptions opt = {});
std::string squashfs_args_key(const BuildContext& ctx);
void make_squashfs(BuildContext& ctx, const std::string& src, const std::string& dst,
                   const std::string& exclude_file, const std::string& log);
// The cluster's boot public key (userland/boot/boot_keys.h) for a cluster key in hex: what the
// initrd carries instead of the key.
std::string boot_public_hex(const std::string& cluster_key_hex);
// Substitutes @NAME@ placeholders; an unknown placeholder is an error naming the template.
std::string render_template(const std::string& text, const std::vector<std::pair<std::string, std::string>>& vars,
                            const std::string& name);

}  // namespace grappe::build
