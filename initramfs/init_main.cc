// grappe-init: the initramfs /init. In order: mount the API filesystems, read the baked config
// and the command line, load the boot modules, find the medium (or fetch the layers over HTTP),
// stack the squashfs layers under a tmpfs overlay, give the node its own identity, and hand over
// to systemd. Every failure says what was looked for and what was found.
#include <sodium.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/reboot.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "admit_client.h"
#include "boot/boot_announce.h"
#include "boot/boot_keys.h"
#include "boot_copy.h"
#include "cmdline.h"
#include "fetch.h"
#include "identity.h"
#include "modindex.h"
#include "probe.h"
#include "sysops.h"

namespace fs = std::filesystem;
using namespace grappe::init;
// The announcement codec is userland's (boot/boot_announce.cc, compiled in).
using grappe::BootAnnouncement;
using grappe::decode_boot_announcement;
using grappe::kBootAnnouncePort;

namespace {

const std::string kRun = "/run/grappe";
const std::string kNewRoot = "/newroot";
// The medium carries the cluster key (grappe/cluster.key); it is mounted for root alone.
const std::string kMediumOptions = "uid=0,gid=0,mode=0400,dmode=0500,overriderockperm";
InitConfig g_cfg;
std::array<uint8_t, 32> g_boot_pub{};  // from g_cfg.boot_pub
bool g_have_pub = false;
bool g_from_medium = false;    // the layers (and the cluster key) came from a CD or USB stick
bool g_medium_open = false;    // mounted without the root-only options (the kernel refused them)


[[noreturn]] void fail(const std::string& what, const std::string& details) {
  log("FAILED: " + what);
  if (!details.empty()) log(details);
  if (g_cfg.shell) {
    log("starting an emergency shell (busybox); type 'exit' to reboot");
    pid_t pid = ::fork();
    if (pid == 0) {
      const char* argv[] = {"/bin/sh", nullptr};
      ::execv(argv[0], const_cast<char* const*>(argv));
      _exit(127);
    }
    while (::waitpid(pid, nullptr, 0) < 0) {}
  } else {
    log("boot the 'debug' menu entry for a shell; rebooting in 60 seconds");
    std::this_thread::sleep_for(std::chrono::seconds(60));
  }
  ::sync();
  ::reboot(RB_AUTOBOOT);
  for (;;) ::pause();
}

void must(bool ok, const std::string& what, const std::string& err) {
  if (!ok) fail(what, err);
}

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Looks at every block device for the ISO 9660 volume id of this build. Returns the mount point
// of the medium, or "" (with `seen` listing what was found) when not there yet.
std::string find_medium(std::string& seen) {
  seen.clear();
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/sys/class/block", ec)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    if (n.rfind("loop", 0) == 0 || n.rfind("ram", 0) == 0) continue;
    std::string dev = "/dev/" + n;
    std::string id = read_volume_id(dev);
    seen += " " + n + (id.empty() ? "(no ISO 9660)" : "(label " + id + ")");
    if (id != g_cfg.label) continue;
    std::string mnt = kRun + "/medium", err;
    if (!mount_fs(dev, mnt, "iso9660", MS_RDONLY | MS_NOSUID | MS_NODEV, kMediumOptions, err)) {
      // Only a kernel that does not know these options gets the plain mount; the key on it is then
      // hidden under an empty root-only tmpfs once installed (install_cluster_key).
      if (err.find("Invalid argument") == std::string::npos ||
          !mount_fs(dev, mnt, "iso9660", MS_RDONLY | MS_NOSUID | MS_NODEV, "", err)) {
        seen += "[mount failed: " + err + "]";
        continue;
      }
      g_medium_open = true;
      log("the kernel refused " + kMediumOptions + " for " + dev + "; the medium's key will be hidden once installed");
    }
    if (g_cfg.build.empty() || fs::exists(mnt + "/grappe/" + g_cfg.build)) {
      log("boot medium: " + dev + " (label " + id + ", build " + g_cfg.build + ")");
      return mnt;
    }
    seen += "[other build: no /grappe/" + g_cfg.build + "]";
    ::umount(mnt.c_str());
  }
  return "";
}

std::string g_discovered_mac;  // set when the image came from a cluster's announcement
std::vector<std::string> discovered_layers(ModuleLoader& mods);

// The layers from the boot medium; without one, after a few seconds and every 15 s after, from a
// cluster serving network boot on the wire (its signed announcement), unless grappe.discover=0.
std::vector<std::string> medium_layers(ModuleLoader& mods) {
  auto t0 = std::chrono::steady_clock::now();
  std::string seen;
  double next_discovery = 8;
  for (int round = 0;; ++round) {
    if (g_cfg.discover && g_have_pub && since(t0) >= next_discovery) {
      log("no boot medium after " + std::to_string(static_cast<int>(since(t0))) +
          " s; listening for a cluster serving network boot");
      auto files = discovered_layers(mods);
      if (!files.empty()) return files;
      next_discovery = since(t0) + 15;
    }
    mods.coldplug();
    std::string mnt = find_medium(seen);
    if (!mnt.empty()) {
      std::vector<std::string> files;
      for (const auto& l : g_cfg.layers) files.push_back(mnt + "/live/" + l);
      g_from_medium = true;
      return files;
    }
    if (since(t0) > g_cfg.timeout_s)
      fail("no boot medium with label " + g_cfg.label + " and build " + g_cfg.build + " after " +
               std::to_string(g_cfg.timeout_s) + " s",
           "looked at every block device (CD, USB, SATA, NVMe, virtio); found:" + (seen.empty() ? " none" : seen) +
               "\n  modules loaded: " + std::to_string(mods.loaded().size()) +
               ". If the medium is there, its driver may be missing from [initramfs] modules.");
    if (round % 20 == 19) log("still looking for the boot medium; found so far:" + seen);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

std::string network_up(ModuleLoader& mods) {
  auto t0 = std::chrono::steady_clock::now();
  std::string want = normalize_mac(g_cfg.bootif);
  for (int round = 1;; ++round) {
    mods.coldplug();
    auto ifs = ethernet_interfaces();
    std::stable_sort(ifs.begin(), ifs.end(), [&](const auto& a, const auto& b) {
      return (normalize_mac(a.second) == want) > (normalize_mac(b.second) == want);
    });
    for (const auto& [name, mac] : ifs) {
      log("DHCP on " + name + " (" + mac + "), attempt " + std::to_string(round));
      if (dhcp(name)) return mac;
    }
    if (since(t0) > g_cfg.timeout_s) {
      std::string found;
      for (const auto& [n, m] : ifs) found += " " + n + "(" + m + ")";
      fail("no DHCP lease after " + std::to_string(g_cfg.timeout_s) + " s",
           "network interfaces found:" + (found.empty() ? " none (is the NIC driver in [initramfs] modules?)" : found));
    }
    std::this_thread::sleep_for(std::chrono::seconds(std::min(round, 5)));
  }
}

std::vector<std::string> fetched_layers() {
  mkdirs(kRun + "/fetched");
  std::vector<std::string> files;
  for (size_t i = 0; i < g_cfg.fetch.size(); ++i) {
    const std::string& url = g_cfg.fetch[i];
    std::string dest = kRun + "/fetched/" + url.substr(url.rfind('/') + 1);
    std::string last_error;
    bool ok = false;
    for (int attempt = 1; attempt <= 5 && !ok; ++attempt) {
      log("fetching " + url + " (attempt " + std::to_string(attempt) + ")");
      int last_pct = -1;
      std::string err;
      auto t0 = std::chrono::steady_clock::now();
      std::string got = fetch_to_file(url, dest, err, [&](size_t n, size_t total) {
        if (total < (16u << 20)) return;  // progress only for large layers
        int pct = static_cast<int>(n * 100 / total);
        if (pct / 25 != last_pct / 25) {
          last_pct = pct;
          log("  " + std::to_string(n >> 20) + " of " + std::to_string(total >> 20) + " MiB");
        }
      });
      if (got.empty()) {
        last_error = err;
      } else if (got != g_cfg.sha256[i]) {
        last_error = "SHA-256 mismatch for " + url + ": expected " + g_cfg.sha256[i] + ", got " + got +
                     "; refusing to boot from corrupt data";
      } else {
        log("  verified " + std::to_string(fs::file_size(dest) >> 10) + " KiB in " +
            std::to_string(static_cast<int>(since(t0))) + " s (sha256 ok)");
        ok = true;
        break;
      }
      log(last_error);
      std::error_code ec;
      fs::remove(dest, ec);
      std::this_thread::sleep_for(std::chrono::seconds(attempt * 2));
    }
    if (!ok) fail("cannot fetch " + url, last_error);
    files.push_back(dest);
  }
  return files;
}

// Up to 6 s for an announcement signed with this image's boot key (the network must be up).
bool hear_announcement(BootAnnouncement& a) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_port = htons(kBootAnnouncePort);
  bool found = false;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof any) == 0) {
    auto t0 = std::chrono::steady_clock::now();
    char buf[600];
    while (!found && since(t0) < 6) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 500) <= 0) continue;
      ssize_t got = ::recv(fd, buf, sizeof buf, 0);
      std::string why;
      if (got > 0) found = decode_boot_announcement(g_boot_pub, std::string(buf, static_cast<size_t>(got)), a, why);
      if (got > 0 && !found) debug_log("ignored an announcement: " + why);
    }
  }
  if (fd >= 0) ::close(fd);
  return found;
}

// One look for a cluster serving network boot: DHCP on each NIC until one gets a lease, then up to
// 6 s for an announcement signed with this image's cluster key; its SHA256SUMS (checked against
// the announced hash) gives the layers' hashes. {} when none came: the caller tries again later.
std::vector<std::string> discovered_layers(ModuleLoader& mods) {
  if (!g_have_pub) return {};
  mods.coldplug();
  std::string mac;
  for (const auto& [name, m] : ethernet_interfaces())
    if (dhcp(name)) {
      mac = m;
      break;
    }
  if (mac.empty()) return log("no DHCP lease on any network interface"), std::vector<std::string>{};
  BootAnnouncement a;
  if (!hear_announcement(a)) return log("no announcement from a cluster with this image's key"), std::vector<std::string>{};
  log("found cluster " + a.cluster + " serving network boot at " + a.base);
  std::string err;
  const std::string sums_path = kRun + "/announced-SHA256SUMS";
  const std::string got = fetch_to_file(a.base + "SHA256SUMS", sums_path, err, [](size_t, size_t) {});
  if (got != a.sums_sha256)
    return log("cannot use " + a.base + "SHA256SUMS: " + (got.empty() ? err : "its hash differs from the announced one")),
           std::vector<std::string>{};
  const auto sums = parse_sums(read_text(sums_path));
  g_cfg.fetch.clear(), g_cfg.sha256.clear();
  for (const auto& l : g_cfg.layers) {
    auto it = sums.find(l);
    if (it == sums.end()) return log(a.base + "SHA256SUMS lists no " + l), g_cfg.fetch.clear(), std::vector<std::string>{};
    g_cfg.fetch.push_back(a.base + l);
    g_cfg.sha256.push_back(it->second);
  }
  g_discovered_mac = mac;
  return fetched_layers();
}

// Keeps what the cluster's network boot serves, so this node can serve it too. Best effort: on
// failure the node boots anyway and its boot service says why it cannot serve.
void mirror_for_serving(const std::vector<std::string>& files) {
  const std::string& first = g_cfg.fetch.front();
  const std::string base = first.substr(0, first.rfind('/') + 1);
  std::map<std::string, std::string> layers, local;
  for (size_t i = 0; i < g_cfg.fetch.size(); ++i) {
    const std::string name = g_cfg.fetch[i].substr(g_cfg.fetch[i].rfind('/') + 1);
    layers[name] = g_cfg.sha256[i];
    local[name] = files[i];
  }
  auto t0 = std::chrono::steady_clock::now();
  std::string why = mirror_boot_files(base, layers, local, kRun + "/medium",
                                      [](const std::string& url, const std::string& dest, std::string& err) {
                                        return fetch_to_file(url, dest, err, [](size_t, size_t) {});
                                      });
  if (why.empty())
    log("kept the kernel, initrd and iPXE files from " + base + " (" + std::to_string(static_cast<int>(since(t0))) +
        " s): this node can serve network boot too");
  else {
    log("this node will not be able to serve network boot: " + why);
    write_text(kRun + "/boot-copy-failed", why + "\n");  // shown by `grappe boot-server status`
  }
}

// The credentials grapped needs, into the new root's /etc/grappe/cluster.key (0600): the medium's
// invitation, or this PC's member credentials asked of the cluster that served it (admission,
// boot_admit.h; never the invitation). The served files never carry either. Without one the node boots but does not join; run/grappe/not-admitted
// says why (`grappe ready` and `grappe status` show it).
void install_cluster_key(const std::string& boot_mac) {
  std::string hex, why;
  if (g_from_medium) {
    hex = read_text(kRun + "/medium/grappe/cluster.key");
    while (!hex.empty() && (hex.back() == '\n' || hex.back() == ' ')) hex.pop_back();
    std::array<uint8_t, 32> k{};
    if (!grappe::parse_hex(hex, k)) why = "the boot medium carries no valid grappe/cluster.key", hex.clear();
    sodium_memzero(k.data(), k.size());
  } else if (!g_have_pub) {
    why = "this initrd carries no boot public key to check an admission with";
  } else {
    const std::string& first = g_cfg.fetch.front();
    std::string base = first.substr(0, first.rfind('/') + 1);
    std::array<uint8_t, 32> pub{}, sec{};  // one pair for this boot: root's `ask` answer is bound to it
    crypto_box_keypair(pub.data(), sec.data());
    const std::string fpr = grappe::to_hex(pub).substr(0, 12);
    auto waiting_since = std::chrono::steady_clock::now();
    double said = -1;
    for (int attempt = 1; attempt <= 3 && hex.empty(); ++attempt) {
      if (said < 0) log("asking " + base + " to admit this PC (" + boot_mac + ", key " + fpr + ")");
      if (ask_admission(base, boot_mac, g_boot_pub, pub, sec, kRun + "/admit.reply", hex, why)) break;
      if (why.find(" 202 ") != std::string::npos) {  // policy ask: wait for root's answer there
        if (said < 0 || since(waiting_since) - said >= 60) {
          said = since(waiting_since);
          log("waiting to be admitted: on the node serving network boot, root runs grappe admit " + boot_mac +
              " (or grappe deny); this PC's key is " + fpr);
        }
        --attempt;
        std::this_thread::sleep_for(std::chrono::seconds(3));
        continue;
      }
      log("  not admitted: " + why);
      if (why.find(" 403 ") != std::string::npos) break;  // the policy said no: asking again will not help
      BootAnnouncement a;  // served by something that is not a cluster node: ask one that serves
      if (why.find(" 404 ") != std::string::npos && hear_announcement(a)) base = a.base;
      else std::this_thread::sleep_for(std::chrono::seconds(2 * attempt));
    }
    sodium_memzero(sec.data(), sec.size());
    if (!hex.empty()) log("admitted by the cluster at " + base);
  }
  if (g_medium_open) {  // cover grappe/ (the key) on a medium every user could read
    std::string err;
    if (!mount_fs("tmpfs", kRun + "/medium/grappe", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "mode=0700,size=4k", err))
      log("WARNING: cannot hide the medium's key from other users: " + err);
  }
  if (!hex.empty()) {
    mkdirs(kNewRoot + "/etc/grappe");
    const std::string path = kNewRoot + "/etc/grappe/cluster.key";
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    const std::string line = hex.back() == '\n' ? hex : hex + "\n";
    const bool ok = fd >= 0 && ::fchmod(fd, 0600) == 0 &&
                    ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    if (fd >= 0) ::close(fd);
    sodium_memzero(hex.data(), hex.size());
    if (ok) return;
    why = "cannot write " + path;
  }
  log("this node will boot but not join the cluster: " + why);
  write_text(kRun + "/not-admitted", why + "\n");
}

void stack_layers(const std::vector<std::string>& files) {
  std::string lower, err;
  for (size_t i = 0; i < files.size(); ++i) {
    std::string loop = attach_loop(files[i], err);
    must(!loop.empty(), "cannot attach " + files[i], err);
    std::string mnt = kRun + "/layer/" + std::to_string(i);
    must(mount_fs(loop, mnt, "squashfs", MS_RDONLY, "", err), "cannot mount layer " + files[i], err);
    lower = lower.empty() ? mnt : mnt + ":" + lower;  // later layers go on top
  }
  must(mount_fs("tmpfs", kRun + "/rw", "tmpfs", 0, "mode=0755", err), "cannot mount the RAM overlay", err);
  mkdirs(kRun + "/rw/upper");
  mkdirs(kRun + "/rw/work");
  must(mount_fs("overlay", kNewRoot, "overlay", 0,
                "lowerdir=" + lower + ",upperdir=" + kRun + "/rw/upper,workdir=" + kRun + "/rw/work", err),
       "cannot mount the overlay root", err);
}

void set_identity(const std::string& boot_mac) {
  std::string mac = normalize_mac(boot_mac);
  if (mac.empty()) mac = normalize_mac(g_cfg.bootif);
  if (mac.empty())
    for (const auto& [n, m] : ethernet_interfaces())
      if (!(mac = normalize_mac(m)).empty()) break;
  std::string host = g_cfg.hostname;
  if (host.empty()) host = read_text(kRun + "/dhcp-hostname");
  while (!host.empty() && (host.back() == '\n' || host.back() == ' ')) host.pop_back();
  Identity id;
  if (mac.empty()) {
    unsigned char r[6];
    randombytes_buf(r, sizeof r);
    r[0] = static_cast<unsigned char>((r[0] & 0xfe) | 0x02);
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
    id = derive_identity(buf, host);
    log("no network interface found: this node gets a random identity for this boot");
  } else {
    id = derive_identity(mac, host);
  }
  write_text(kNewRoot + "/etc/machine-id", id.machine_id + "\n");
  write_text(kNewRoot + "/etc/hostname", id.hostname + "\n");
  write_text(kNewRoot + "/etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\t" + id.hostname +
                                          "\n::1\tlocalhost ip6-localhost ip6-loopback\n");
  write_text(kRun + "/identity", "mac=" + id.mac + "\nmachine_id=" + id.machine_id + "\nhostname=" + id.hostname + "\n");
  log("identity: " + id.hostname + " machine-id " + id.machine_id + " (from " + (mac.empty() ? "random" : mac) + ")");
}

}  // namespace

int main() {
  auto t0 = std::chrono::steady_clock::now();
  std::string err;
  mount_fs("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755", err);
  mount_fs("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "", err);
  mount_fs("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "", err);
  mount_fs("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", err);
  mkdirs(kRun);
  if (sodium_init() < 0) log("libsodium init failed");

  auto conf = parse_conf(read_text("/etc/grappe-init.conf"));
  auto cmd = parse_cmdline(read_text("/proc/cmdline"));
  g_cfg = make_config(conf, cmd, err);
  set_debug(g_cfg.debug);
  g_have_pub = grappe::parse_hex(g_cfg.boot_pub, g_boot_pub);
  log("Grappe build " + g_cfg.build + ", kernel " + g_cfg.kernel + (!g_cfg.fetch.empty()                      ? ", network boot"
           : g_cfg.discover && g_have_pub ? ", boot from a medium, or from a cluster found on the wire"
                                                  : ", boot from medium"));
  if (!err.empty()) fail("bad boot parameters", err);

  ModuleIndex idx;
  std::string moddir = "/lib/modules/" + g_cfg.kernel;
  idx.add_dep_text(read_text(moddir + "/modules.dep"));
  idx.add_alias_text(read_text(moddir + "/modules.alias"));
  ModuleLoader mods(moddir, idx);
  for (const auto& m : g_cfg.always) mods.load(m);

  std::string boot_mac;
  std::vector<std::string> layers;
  if (g_cfg.fetch.empty()) {
    layers = medium_layers(mods);
    if (!g_discovered_mac.empty()) {  // found a cluster on the wire, booting its image
      boot_mac = g_discovered_mac;
      mirror_for_serving(layers);
    }
  } else {
    boot_mac = network_up(mods);
    layers = fetched_layers();
    mirror_for_serving(layers);
  }
  for (int i = 0; i < 3; ++i) mods.coldplug();  // NICs and the rest, before identity
  stack_layers(layers);
  set_identity(boot_mac);
  install_cluster_key(boot_mac);
  if (!fs::exists(kNewRoot + "/sbin/init") && !fs::exists(kNewRoot + "/usr/sbin/init"))
    fail("the root filesystem has no /sbin/init", "layers: " + std::to_string(layers.size()));
  log("root ready after " + std::to_string(static_cast<int>(since(t0) * 10) / 10.0).substr(0, 4) + " s (" +
      std::to_string(mods.loaded().size()) + " modules); starting systemd");
  switch_root(kNewRoot, "/sbin/init");
}
