// sdk + userland: the node programs are compiled inside a cached Debian chroot of the image's
// suite, so they link against the image's libraries (trixie's libcriu, libsodium, …) rather
// than the build host's. The chroot is entered in a private mount namespace: nothing stays
// mounted if the build is interrupted.
#include <set>

#include "error.h"
#include "fsutil.h"
#include "hash.h"
#include "stages.h"

namespace fs = std::filesystem;

namespace grappe::build {
namespace {

std::vector<std::string> sdk_packages(const Recipe& r) {
  std::set<std::string> s(r.sdk_packages.begin(), r.sdk_packages.end());
  s.insert({"build-essential", "ccache", "cmake", "ninja-build", "pkg-config"});
  return {s.begin(), s.end()};
}

}  // namespace

Stage sdk_stage() {
  Stage s;
  s.name = "sdk";
  s.key = [](BuildContext& ctx) {
    Sha256 h = stage_key(ctx, "sdk/2");
    h.field("suite", ctx.recipe.suite).field("mirror", ctx.mirror);
    for (const auto& p : sdk_packages(ctx.recipe)) h.field("pkg", p);
    h.field("mmdebstrap", package_version(ctx, "mmdebstrap"));
    return h.hex();
  };
  s.build = [](BuildContext& ctx, const fs::path& tmp, const std::string& log) {
    // Straight into the stage's directory (no tar to write and unpack), and without dpkg's
    // fsync per file: the SDK is a build chroot that never ships, and an interrupted stage is
    // rebuilt from scratch anyway. Together about 9 s less on the build's critical path.
    mmdebstrap_into(ctx, "minbase", sdk_packages(ctx.recipe), tmp, log);
    for (const char* d : {"src", "build", "dest", "ccache"}) fs::create_directories(tmp / d);
  };
  return s;
}

Stage userland_stage() {
  Stage s;
  s.name = "userland";
  s.key = [](BuildContext& ctx) {
    Sha256 h = stage_key(ctx, "userland/6", {"sdk"});
    h.field("src", sha256_tree(ctx.repo / "userland"));
    return h.hex();
  };
  s.build = [](BuildContext& ctx, const fs::path& tmp, const std::string& log) {
    const fs::path sdk = ctx.outputs.at("sdk");
    // A persistent build directory per SDK makes a one-file change an incremental compile.
    const fs::path build = ctx.cache / ("userland-build-" + ctx.keys.at("sdk").substr(0, 16));
    // ccache, shared by every SDK: a new SDK (another package list, a newer suite) recompiles
    // only what its headers or compiler changed. Depend mode hashes the headers the compiler
    // listed (-MD, which ninja asks for anyway) and never runs the preprocessor, so a cold build
    // pays almost nothing for it.
    const fs::path ccache = ctx.cache / "ccache";
    fs::create_directories(build);
    fs::create_directories(ccache);
    fs::create_directories(tmp);
    const std::string inner =
        // A unity build (8 sources per compiler run): the heavy headers (JSON, TOML, CLI11) are
        // parsed once per batch, not once per file, which halves the compile on 2 cores. Ninja
        // compiles the programs' sources while the library's still build (only links wait).
        // -O1: these are daemons that wait on sockets and CRIU, not on arithmetic, and the
        // compile is most of a cold build's CPU (2 cores, ninja: -O3 95 s, -O2 78 s, -O1 68 s).
        "export CCACHE_DIR=/ccache CCACHE_DEPEND=1 CCACHE_MAXSIZE=2G && "
        "cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=None -DCMAKE_INSTALL_PREFIX=/usr "
        "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache "
        "-DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=8 "
        // Batches make a program link whole batches of the library: keep only what it uses.
        "-DCMAKE_CXX_FLAGS='-O1 -DNDEBUG -ffunction-sections -fdata-sections' -DCMAKE_EXE_LINKER_FLAGS=-Wl,--gc-sections >/dev/null && "
        "cmake --build /build -j " + std::to_string(ctx.jobs) + " && DESTDIR=/dest cmake --install /build";
    const std::string outer =
        "mount --bind \"$1\" \"$2/src\" && mount --bind \"$3\" \"$2/build\" && mount --bind \"$4\" \"$2/dest\" && "
        "mount --bind \"$6\" \"$2/ccache\" && mount -t proc proc \"$2/proc\" && exec chroot \"$2\" /bin/sh -ec \"$5\"";
    run_logged(ctx,
               {"unshare", "--mount", "--propagation", "private", "/bin/sh", "-ec", outer, "sh",
                (ctx.repo / "userland").string(), sdk.string(), build.string(), tmp.string(), inner,
                ccache.string()},
               log);
    if (!fs::exists(tmp / "usr/bin/grappe"))
      throw Error("the userland build installed no usr/bin/grappe", tmp.string(), "check userland/CMakeLists.txt install rules");
  };
  return s;
}

}  // namespace grappe::build
