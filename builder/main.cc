// grappe-build: recipe -> stages -> out/. Reads as the list of what it does: parse the command
// line, load the recipe, settle the mirror and cluster key, run the stages, report.
#include <sodium.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "error.h"
#include "fsutil.h"
#include "hash.h"
#include "mirror.h"
#include "pipeline.h"
#include "console.h"
#include "console_attach.h"
#include "qemu.h"
#include "recipe.h"
#include "recipe_check.h"
#include "stages.h"

namespace fs = std::filesystem;
using namespace grappe::build;

namespace {

// The source tree holding a recipe: the nearest ancestor with kernel/requirements.
fs::path find_repo(const fs::path& recipe) {
  for (fs::path p = fs::absolute(recipe).parent_path(); !p.empty(); p = p.parent_path()) {
    if (fs::exists(p / "kernel/requirements") && fs::is_directory(p / "overlay")) return p;
    if (p == p.root_path()) break;
  }
  if (fs::exists("kernel/requirements")) return fs::current_path();
  throw Error("cannot find the Grappe source tree for " + recipe.string(), "",
              "keep the recipe inside the tree (recipes/) or run from the tree's root");
}

fs::path self_dir() { return fs::read_symlink("/proc/self/exe").parent_path(); }

std::string cluster_key(const Recipe& r, const fs::path& out) {
  if (!r.cluster_key.empty()) return r.cluster_key;
  fs::path f = out / "cluster.key";
  if (fs::exists(f)) {
    auto k = read_file(f);
    k = k.substr(0, k.find('\n'));
    if (k.size() == 64) return k;
    throw Error("bad cluster key file", f.string(), "delete it to create a new key (nodes of old images will no longer join)");
  }
  unsigned char key[32];
  randombytes_buf(key, sizeof key);
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, key, sizeof key);
  write_file_atomic(f, std::string(hex) + "\n", 0600);
  std::printf("created a new cluster key: %s (keep it: images built with it form one cluster)\n", f.c_str());
  return hex;
}

fs::path choose_cache(const std::string& cli, const fs::path& out) {
  const char* env = std::getenv("GRAPPE_CACHE");
  return fs::absolute(!cli.empty() ? fs::path(cli) : env && *env ? fs::path(env) : out / "cache");
}

// The recipe against its mirror's metadata (recipe_check.h): prints every finding and says
// whether there was no error. A mirror that cannot be asked: check-recipe (`strict`) fails with
// the reason, build warns and goes on (mmdebstrap may still reach what this cannot).
bool check_on_mirror(const Recipe& r, const std::string& mirror, const fs::path& cache, bool strict, size_t& checked) {
  RealProcessRunner runner;
  auto fetcher = make_mirror_fetcher(mirror);
  IndexSource src{*fetcher, runner, cache};
  MirrorCheck result;
  try {
    result = check_recipe_on_mirror(r, src);
  } catch (const MirrorUnreachable& e) {
    if (strict) throw;
    std::fprintf(stderr, "grappe-build: warning: the recipe's suite and packages were not checked: %s\n", e.what());
    return true;
  }
  for (const auto& f : result.findings) std::fprintf(stderr, "grappe-build: %s\n", format_finding(r, f).c_str());
  checked = result.packages_checked;
  return result.ok();
}

int cmd_check(const std::string& recipe_path, const std::string& mirror, const std::string& cache, bool offline) {
  auto r = load_recipe(recipe_path);
  std::string mirror_note;
  if (!offline) {
    const std::string m = choose_mirror(mirror, r.mirror);
    size_t checked = 0;
    if (!check_on_mirror(r, m, choose_cache(cache, "out"), true, checked)) return 1;
    mirror_note = "; suite and " + std::to_string(checked) + " packages found on " + m;
  }
  std::printf("%s: ok (suite %s, %zu packages, kernel %s, default entry %s%s)\n", recipe_path.c_str(), r.suite.c_str(),
              r.packages.size(), r.kernel_package.c_str(), r.default_entry.c_str(), mirror_note.c_str());
  return 0;
}

int cmd_build(const std::string& recipe_path, const fs::path& out, const std::string& cache, const std::string& mirror,
              const std::vector<std::string>& extra, int jobs) {
  auto t0 = std::chrono::steady_clock::now();
  if (::geteuid() != 0)
    throw Error("grappe-build build needs root (mmdebstrap, chroot and device nodes)", "", "run it as root (sudo ./build.sh)");
  BuildContext ctx;
  ctx.recipe = load_recipe(recipe_path);
  ctx.recipe_sha256 = sha256_hex(read_file(recipe_path));
  ctx.repo = find_repo(recipe_path);
  ctx.out = fs::absolute(out);
  ctx.cache = choose_cache(cache, ctx.out);
  ctx.logdir = ctx.out / "log";
  ctx.init_binary = self_dir() / "../initramfs/grappe-init";
  if (!fs::exists(ctx.init_binary))
    throw Error("grappe-init is not built", ctx.init_binary.string(), "build the tools first: ./build.sh tools");
  ctx.mirror = choose_mirror(mirror, ctx.recipe.mirror);
  std::printf("grappe-build: checking suite %s and the recipe's packages on %s\n", ctx.recipe.suite.c_str(), ctx.mirror.c_str());
  std::fflush(stdout);
  size_t checked = 0;
  if (!check_on_mirror(ctx.recipe, ctx.mirror, ctx.cache, false, checked))
    throw Error("the recipe names what its mirror does not have", recipe_path + " (errors above)",
                "fix them and run again: nothing was built");
  ctx.tool_hash = sha256_file("/proc/self/exe");
  for (const auto& e : extra) {
    if (!fs::is_directory(e)) throw Error("--extra-overlay is not a directory", e, "give a directory of files to add to the image");
    ctx.extra_overlays.push_back(fs::absolute(e));
  }
  ctx.jobs = jobs > 0 ? jobs : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  fs::create_directories(ctx.out);
  ctx.cluster_key = cluster_key(ctx.recipe, ctx.out);
  RealProcessRunner runner;
  Progress progress(::isatty(1) != 0);
  ctx.runner = &runner;
  ctx.progress = &progress;
  std::printf("grappe-build: %s (suite %s) -> %s\n", recipe_path.c_str(), ctx.recipe.suite.c_str(), ctx.out.c_str());

  Pipeline pipeline(all_stages());
  auto reports = pipeline.run(ctx);

  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json j = {{"recipe", recipe_path}, {"build_id", ctx.build_id}, {"kernel", ctx.kernel_version},
                      {"seconds", total}, {"iso", (ctx.out / "grappe-amd64.iso").string()},
                      {"iso_bytes", fs::file_size(ctx.out / "grappe-amd64.iso")}};
  for (const auto& r : reports) j["stages"].push_back({{"name", r.name}, {"cached", r.cached}, {"seconds", r.seconds}});
  write_file_atomic(ctx.out / "manifest.json", read_file(ctx.outputs.at("overlay") / kManifest));
  write_file_atomic(ctx.out / "build.json", j.dump(2) + "\n");
  std::printf("grappe-build: done in %.1f s, build %s\n  %s\n  %s/\n  %s\n", total, ctx.build_id.c_str(),
              (ctx.out / "grappe-amd64.iso").c_str(), (ctx.out / "pxe").c_str(), (ctx.out / "manifest.json").c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"grappe-build: builds the Grappe cluster image (hybrid ISO + PXE bundle) from a recipe"};
  app.require_subcommand(1);

  auto* build = app.add_subcommand("build", "build an image from a recipe into the output directory");
  std::string recipe = "recipes/default.toml", out = "out", cache, mirror;
  std::vector<std::string> extra;
  int jobs = 0;
  build->add_option("recipe", recipe, "recipe file (TOML)")->capture_default_str();
  build->add_option("-o,--out", out, "output directory")->capture_default_str();
  build->add_option("--cache", cache, "stage cache directory (default: OUT/cache, or $GRAPPE_CACHE)");
  build->add_option("--mirror", mirror, "Debian mirror URL (default: $GRAPPE_MIRROR, the recipe's, or this host's apt sources)");
  build->add_option("--extra-overlay", extra, "directory of extra files laid over the image (repeatable)");
  build->add_option("-j,--jobs", jobs, "parallel jobs for compilers and mksquashfs (default: all cores)");

  auto* check = app.add_subcommand("check-recipe", "validate a recipe and print what it resolves to");
  bool offline = false;
  check->add_option("recipe", recipe, "recipe file (TOML)")->required();
  check->add_option("--mirror", mirror, "Debian mirror URL (default: $GRAPPE_MIRROR, the recipe's, or this host's apt sources)");
  check->add_option("--cache", cache, "where the mirror's package lists are cached (default: out/cache, or $GRAPPE_CACHE)");
  check->add_flag("--offline", offline, "check the file only, not the suite and packages against the mirror");

  QemuOptions q;
  auto* qemu = app.add_subcommand("qemu", "start N VMs from the built image on one private virtual network");
  qemu->add_option("-n,--nodes", q.nodes, "number of VMs")->capture_default_str();
  qemu->add_option("--boot", q.boot, "cd (BIOS CD), uefi (UEFI CD), usb (BIOS USB stick), pxe (BIOS network boot from this "
                   "host's out/pxe), net / uefi-net (no disk: network boot from the cluster itself, BIOS / UEFI), "
                   "kernel (only out/pxe's kernel and initrd: grappe-init finds the cluster by itself); "
                   "a comma list gives one per node, the last for the rest: cd,net")
      ->capture_default_str();
  qemu->add_flag_callback("--uefi", [&] { q.boot = "uefi"; }, "same as --boot uefi");
  qemu->add_flag_callback("--pxe", [&] { q.boot = "pxe"; }, "same as --boot pxe");
  qemu->add_flag_callback("--usb", [&] { q.boot = "usb"; }, "same as --boot usb");
  qemu->add_option("--accel", q.accel, "auto (KVM if it works, else TCG), kvm or tcg")->capture_default_str();
  qemu->add_option("-m,--memory", q.memory_mb, "MiB of RAM per VM")->capture_default_str();
  qemu->add_option("--cpus", q.cpus, "virtual CPUs per VM")->capture_default_str();
  qemu->add_option("--port", q.port, "UDP multicast port of the virtual segment (default: derived from --out)");
  qemu->add_option("-o,--out", q.out, "output directory holding the image")->capture_default_str();
  qemu->add_option("--dir", q.dir, "where serial logs and VM state go (default: OUT/qemu)");
  qemu->add_flag("--gui", q.gui, "show each VM's screen");
  qemu->add_option("--until", q.until, "stop all VMs once each serial log contains this text (tests; repeat it: all of them)")
      ->allow_extra_args(false);
  qemu->add_option("--hold-net", q.hold_net,
                   "start the net / uefi-net / kernel VMs only once this file exists (e.g. touched after grappe boot-server "
                   "enable: UEFI firmware does not retry a failed network boot)");
  qemu->add_option("--stagger", q.stagger,
                   "start nodes 2.. only once node 1's serial log shows this text (e.g. \"grappe: founded cluster\": node 1 "
                   "founds the cluster and serves /home)");
  qemu->add_option("--disk", q.disks,
                   "give node N a virtio data disk (DIR/nodeN-disk.img, kept across runs; seen as /dev/vda: "
                   "grappe home init /dev/vda makes it a GRAPPE-HOME disk); repeat or comma-list")
      ->delimiter(',');
  qemu->add_option("--disk-size", q.disk_mb, "MiB of a data disk made by --disk")->capture_default_str()->check(CLI::Range(64, 1 << 20));
  qemu->add_option("--timeout", q.timeout_s, "with --until: seconds before giving up (default 900 under TCG)");

  auto* con = app.add_subcommand(
      "console",
      "run a shell command on a running QEMU node (grappe-build qemu) through its serial console and exit with its "
      "status; without a command, attach this terminal to the node's root shell until Ctrl-]");
  std::string con_dir = "out/qemu";
  int con_node = 1;
  double con_timeout = 120;
  std::vector<std::string> con_cmd;
  con->add_option("--dir", con_dir, "the VMs' directory (grappe-build qemu --dir)")->capture_default_str();
  con->add_option("-n,--node", con_node, "which node (from 1)")->capture_default_str();
  con->add_option("--timeout", con_timeout,
                  "seconds before giving up: on the shell and the command, and on any write the node does not take "
                  "(attached: on typed text it does not take)")
      ->capture_default_str();
  con->add_option("command", con_cmd, "the shell command (after --); none: attach (Ctrl-] detaches)");

  CLI11_PARSE(app, argc, argv);
  forward_termination_signals();
  try {
    if (*build) return cmd_build(recipe, out, cache, mirror, extra, jobs);
    if (*check) return cmd_check(recipe, mirror, cache, offline);
    if (*qemu) return run_qemu_cluster(q);
    if (*con) {
      const fs::path sock = fs::path(con_dir) / ("node" + std::to_string(con_node) + ".sock");
      if (con_cmd.empty()) return attach_console(sock, con_timeout);
      std::string cmd, output;
      for (const auto& a : con_cmd) cmd += (cmd.empty() ? "" : " ") + a;
      int st = run_console(sock, cmd, con_timeout, output);
      std::fwrite(output.data(), 1, output.size(), stdout);
      return st;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "grappe-build: %s\n", e.what());
    return termination_requested() ? 128 + termination_signal() : 1;
  }
  return 0;
}
