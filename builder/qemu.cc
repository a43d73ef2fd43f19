#include "qemu.h"

#include <optional>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include <httplib.h>

#include "error.h"
#include "fsutil.h"
#include "hash.h"
#include "pipeline.h"
#include "process.h"
#include "qemu_summary.h"

namespace fs = std::filesystem;

namespace grappe::build {
namespace {

const char* kOvmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const char* kOvmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd";

pid_t spawn(const std::vector<std::string>& argv, const fs::path& log) {
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("cannot write", log.string());
  std::vector<char*> a;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int nul = ::open("/dev/null", O_RDWR);
    ::dup2(nul, 0);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execvp(a[0], a.data());
    _exit(127);
  }
  ::close(fd);
  if (pid < 0) throw Error("fork failed for qemu");
  return pid;
}

// Kills every VM it holds, by PID, however the runner exits.
// Every VM by PID. A slot is -1 once its VM was reaped, or before it starts (--hold-net): never
// signalled, as kill(-1, …) would reach every process.
struct VmGuard {
  std::vector<pid_t> pids;
  ~VmGuard() {
    for (pid_t p : pids)
      if (p > 0) ::kill(p, SIGTERM);
    for (int i = 0; i < 50; ++i) {
      bool alive = false;
      for (pid_t p : pids) alive |= p > 0 && ::waitpid(p, nullptr, WNOHANG) == 0;
      if (!alive) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (pid_t p : pids) {
      if (p <= 0) continue;
      ::kill(p, SIGKILL);
      ::waitpid(p, nullptr, 0);
    }
  }
};

bool kvm_failed(const fs::path& qemu_log) {
  std::error_code ec;
  return fs::exists(qemu_log, ec) && read_file(qemu_log).find("KVM internal error") != std::string::npos;
}

// KVM can open fine and still break guests: on nested setups they stop with "KVM internal
// error" or hang silently. So the probe boots the image's own kernel with no root under KVM and
// expects it to reach its panic message; the verdict is kept for a day next to the image.
bool kvm_available(const fs::path& out, std::string& why) {
  if (::access("/dev/kvm", R_OK | W_OK) != 0) {
    why = "/dev/kvm is not usable";
    return false;
  }
  const fs::path verdict = out / ".kvm-probe";
  std::error_code ec;
  if (fs::exists(verdict, ec) &&
      fs::last_write_time(verdict, ec) > fs::file_time_type::clock::now() - std::chrono::hours(24)) {
    auto v = read_file(verdict);
    why = v.substr(v.find(' ') + 1);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return v.rfind("kvm", 0) == 0;
  }
  fs::path kernel = out / "pxe/vmlinuz";
  if (!fs::exists(kernel)) {
    why = "no kernel to probe KVM with";
    return false;
  }
  // Files of this probe alone: two runners started at once (ctest -j2) may probe side by side.
  const std::string me = std::to_string(::getpid());
  fs::path serial = out / (".kvm-probe." + me + ".serial"), log = out / (".kvm-probe." + me + ".log");
  pid_t pid = spawn({"qemu-system-x86_64", "-accel", "kvm", "-m", "256", "-display", "none", "-nodefaults", "-no-reboot",
                     "-monitor", "none", "-serial", "file:" + serial.string(), "-kernel", kernel.string(), "-append",
                     "console=ttyS0 panic=-1 loglevel=4"},
                    log);
  auto panicked = [&] { return fs::exists(serial, ec) && read_file(serial).find("Kernel panic") != std::string::npos; };
  bool ok = false;
  for (int i = 0; i < 150 && !ok; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ok = panicked();
    if (kvm_failed(log)) break;
    if (::waitpid(pid, nullptr, WNOHANG) == pid) {
      pid = -1;
      break;
    }
  }
  if (pid > 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  ok = ok || panicked();
  why = ok ? "KVM works" : kvm_failed(log) ? "KVM opens but guests die (\"KVM internal error\")"
                                           : "KVM opens but a test guest did not boot within 15 s";
  fs::remove(serial, ec);
  fs::remove(log, ec);
  write_file_atomic(verdict, std::string(ok ? "kvm " : "tcg ") + why + "\n");
  return ok;
}


volatile sig_atomic_t g_stop = 0;
constexpr int kRetryWithTcg = -1000;
void on_stop(int) { g_stop = 1; }

}  // namespace

int run_vms(const QemuOptions& o, const std::string& accel, int http_port);

std::string node_mac(int index, bool boot_nic) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "52:54:00:67:%02x:%02x", boot_nic ? 0x71 : 0x72, index & 0xff);
  return buf;
}

std::string node_boot(const std::string& boot, int index) {
  std::vector<std::string> kinds;
  std::stringstream in(boot);
  for (std::string k; std::getline(in, k, ',');) kinds.push_back(k);
  if (kinds.empty()) return "";
  return kinds[std::min<size_t>(static_cast<size_t>(std::max(index, 1)) - 1, kinds.size() - 1)];
}

bool until_reached(const std::string& serial, const std::vector<std::string>& until) {
  for (const auto& u : until)
    if (serial.find(u) == std::string::npos) return false;
  return true;
}

std::string until_text(const std::vector<std::string>& until) {
  std::string s;
  for (size_t i = 0; i < until.size(); ++i) s += (i == 0 ? "'" : i + 1 == until.size() ? " and '" : ", '") + until[i] + "'";
  return s;
}

std::vector<std::string> qemu_command(const QemuOptions& o, int i, const std::string& accel, const fs::path& vars_copy,
                                      int http_port) {
  const fs::path iso = o.out / "grappe-amd64.iso";
  const fs::path dir = o.dir.empty() ? o.out / "qemu" : o.dir;
  const std::string boot = node_boot(o.boot, i);
  const bool uefi = boot == "uefi" || boot == "uefi-net";
  std::vector<std::string> a = {"qemu-system-x86_64", "-name", "grappe-node" + std::to_string(i), "-accel", accel,
                                "-m", std::to_string(o.memory_mb), "-smp", std::to_string(o.cpus), "-no-user-config",
                                // The serial console: logged to nodeN.log, typed into through nodeN.sock
                                // (grappe-build console).
                                "-chardev", "socket,id=console,server=on,wait=off,path=" +
                                    (dir / ("node" + std::to_string(i) + ".sock")).string() + ",logfile=" +
                                    (dir / ("node" + std::to_string(i) + ".log")).string(),
                                "-serial", "chardev:console", "-monitor", "none"};
  if (!o.gui) a.insert(a.end(), {"-display", "none"});
  if (uefi) {
    a.insert(a.end(), {"-machine", "q35", "-drive", std::string("if=pflash,format=raw,readonly=on,file=") + kOvmfCode,
                       "-drive", "if=pflash,format=raw,file=" + vars_copy.string()});
  } else {
    a.insert(a.end(), {"-machine", "pc"});
  }
  if (boot == "cd" || boot == "uefi") {
    a.insert(a.end(), {"-drive", "file=" + iso.string() + ",media=cdrom,readonly=on", "-boot", "order=d"});
  } else if (boot == "usb") {
    a.insert(a.end(), {"-device", "qemu-xhci,id=xhci", "-drive",
                       "if=none,id=stick,format=raw,readonly=on,file=" + iso.string(), "-device",
                       "usb-storage,bus=xhci.0,drive=stick,bootindex=0"});
  } else if (boot == "pxe") {
    a.insert(a.end(), {"-netdev",
                       "user,id=boot,tftp=" + (dir / "tftp").string() + ",bootfile=grappe.ipxe,restrict=on,guestfwd=tcp:10.0.2.100:80-cmd:busybox nc 127.0.0.1 " +
                           std::to_string(http_port),
                       "-device", "virtio-net-pci,netdev=boot,mac=" + node_mac(i, true) + ",bootindex=0"});
  } else if (boot == "kernel") {
    // Only the kernel and initrd, no fetch URL on the command line: grappe-init finds the
    // cluster from its boot service's announcement.
    a.insert(a.end(), {"-kernel", (o.out / "pxe/vmlinuz").string(), "-initrd", (o.out / "pxe/initrd.img").string(),
                       "-append", "console=tty0 console=ttyS0,115200n8"});
  } else if (boot == "net" || boot == "uefi-net") {
    // No disk: the firmware boots from the cluster NIC, served by a node of the cluster. Until
    // one serves, SeaBIOS retries a failed boot every 5 s (reboot-timeout; OVMF ignores it).
    a.insert(a.end(), {"-boot", "reboot-timeout=5000"});
  }
  if (std::find(o.disks.begin(), o.disks.end(), i) != o.disks.end())
    a.insert(a.end(), {"-drive", "file=" + (dir / ("node" + std::to_string(i) + "-disk.img")).string() +
                                     ",if=virtio,format=raw,cache=writeback"});
  // net: SeaBIOS has no network stack, so the NIC keeps its iPXE ROM. uefi-net: no ROM, so OVMF's
  // own UEFI PXE client boots, like plain firmware: DHCP, snponly.efi over TFTP, then iPXE.
  const std::string nic_boot = boot == "net" ? ",bootindex=0" : boot == "uefi-net" ? ",romfile=,bootindex=0" : ",romfile=";
  a.insert(a.end(), {"-netdev",
                     "socket,id=cluster,mcast=230.0.0.1:" + std::to_string(o.port) + ",localaddr=127.0.0.1", "-device",
                     "virtio-net-pci,netdev=cluster,mac=" + node_mac(i) + nic_boot});
  return a;
}

int run_qemu_cluster(QemuOptions o) {
  const fs::path iso = o.out / "grappe-amd64.iso";
  if (o.dir.empty()) o.dir = o.out / "qemu";
  const fs::path dir = o.dir;
  if (o.nodes < 1 || o.nodes > 64) throw Error("--nodes must be between 1 and 64", std::to_string(o.nodes));
  bool any_pxe = false, any_bundle = false, any_disk = false, any_medium = false;
  for (int i = 1; i <= o.nodes; ++i) {
    const std::string b = node_boot(o.boot, i);
    if (b != "cd" && b != "uefi" && b != "usb" && b != "pxe" && b != "net" && b != "uefi-net" && b != "kernel")
      throw Error("unknown --boot '" + b + "'", o.boot,
                  "use cd, uefi, usb, pxe, net, uefi-net or kernel, or a comma list of them (one per node, e.g. cd,net)");
    const bool diskless = b == "net" || b == "uefi-net" || b == "kernel";
    any_pxe |= b == "pxe";
    any_bundle |= b == "pxe" || b == "kernel";
    any_medium |= !diskless;
    any_disk |= b != "pxe" && !diskless;
  }
  if (!any_medium)
    throw Error("--boot '" + o.boot + "': no node boots from a medium, so none can serve the others", "",
                "boot node 1 from the CD: --boot cd,net");
  if ((any_bundle && !fs::exists(o.out / "pxe/boot.ipxe")) || (any_disk && !fs::exists(iso)))
    throw Error("no built image in " + o.out.string(), iso.string(), "build one first: ./build.sh (or grappe-build build RECIPE --out DIR)");
  fs::create_directories(dir);
  for (int n : o.disks) {
    if (n < 1 || n > o.nodes) throw Error("--disk " + std::to_string(n) + ": no such node", "", "give node numbers from 1 to --nodes");
    const fs::path img = dir / ("node" + std::to_string(n) + "-disk.img");
    if (fs::exists(img)) continue;
    const fs::path tmp = img.string() + ".part";
    { std::ofstream(tmp, std::ios::binary); }
    fs::resize_file(tmp, static_cast<uintmax_t>(o.disk_mb) << 20);  // sparse
    fs::rename(tmp, img);
  }
  if (o.port == 0) o.port = 20000 + static_cast<int>(std::stoul(sha256_hex(fs::absolute(o.out).string()).substr(0, 4), nullptr, 16) % 20000);

  std::string accel = o.accel, why;
  if (accel == "auto") {
    accel = kvm_available(o.out, why) ? "kvm" : "tcg";
    if (accel == "tcg") std::printf("grappe-build qemu: %s; using TCG (software emulation, slower)\n", why.c_str());
  }

  // --boot pxe: out/pxe over HTTP (reached by the guests at 10.0.2.100:80) and a TFTP script.
  std::unique_ptr<httplib::Server> http;
  std::thread http_thread;
  int http_port = 0;
  if (any_pxe) {
    http = std::make_unique<httplib::Server>();
    if (!http->set_mount_point("/", (o.out / "pxe").string())) throw Error("cannot serve", (o.out / "pxe").string());
    http_port = http->bind_to_any_port("127.0.0.1");
    http_thread = std::thread([&] { http->listen_after_bind(); });
    fs::create_directories(dir / "tftp");
    write_file_atomic(dir / "tftp/grappe.ipxe",
                      "#!ipxe\nset grappe-base http://10.0.2.100/\nset grappe-entry serial\nchain ${grappe-base}boot.ipxe\n");
  }
  struct HttpStop {
    std::unique_ptr<httplib::Server>& s;
    std::thread& t;
    ~HttpStop() {
      if (s) s->stop();
      if (t.joinable()) t.join();
    }
  } http_stop{http, http_thread};

  g_stop = 0;
  struct sigaction sa{};
  sa.sa_handler = on_stop;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);

  for (;;) {
    int rc = run_vms(o, accel, http_port);
    if (rc != kRetryWithTcg) return rc;
    accel = "tcg";
  }
}

// One look at VM i (0-based): KVM's failure, QEMU's exit, grappe-init's failure, the --until text.
// Returns the command's exit code when it must end now.
static std::optional<int> watch_node(const QemuOptions& o, int i, VmGuard& guard, const fs::path& serial_log,
                              std::vector<bool>& reached, bool may_fall_back, double elapsed) {
  const fs::path dir = o.dir;
  const size_t k = static_cast<size_t>(i);
  if (guard.pids[k] <= 0) return std::nullopt;  // held back, not started yet
  const fs::path qlog = dir / ("node" + std::to_string(i + 1) + ".qemu.log");
  if (may_fall_back && kvm_failed(qlog)) {
    std::printf("grappe-build qemu: KVM is present but the guest died (\"KVM internal error\"); "
                "restarting every VM under TCG (software emulation, slower)\n");
    std::fflush(stdout);
    return kRetryWithTcg;
  }
  int st = 0;
  if (::waitpid(guard.pids[k], &st, WNOHANG) == guard.pids[k]) {
    guard.pids[k] = -1;
    // Killed from outside (a test pulling the plug, or an admin), or the guest powered off: the
    // other VMs go on.
    const bool others = std::any_of(guard.pids.begin(), guard.pids.end(), [](pid_t p) { return p > 0; });
    if ((WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) == 0)) && others) {
      if (WIFSIGNALED(st))
        std::printf("grappe-build qemu: node%d's QEMU was killed (signal %d); the other VMs go on\n", i + 1, WTERMSIG(st));
      else
        std::printf("grappe-build qemu: node%d powered off; the other VMs go on\n", i + 1);
      std::fflush(stdout);
      return std::nullopt;
    }
    std::fprintf(stderr, "grappe-build qemu: node%d's QEMU exited; its output:\n%s", i + 1, log_tail(qlog.string(), 15).c_str());
    return 1;
  }
  const std::string serial = fs::exists(serial_log) ? read_file(serial_log) : std::string();
  if (!o.until.empty() && serial.find("grappe-init: FAILED") != std::string::npos) {
    std::fprintf(stderr, "grappe-build qemu: node%d failed to boot; last serial lines:\n%s", i + 1,
                 log_tail(serial_log.string(), 30).c_str());
    return 1;
  }
  if (!o.until.empty() && !reached[k] && until_reached(serial, o.until)) {
    reached[k] = true;
    std::printf("node%d: reached %s after %.1f s\n", i + 1, until_text(o.until).c_str(), elapsed);
    std::fflush(stdout);
  }
  return std::nullopt;
}

// Once every node's serial log shows it joined (a lone VM: founded), one line says so. True then.
static bool report_formed(const QemuOptions& o, const std::vector<fs::path>& logs, double elapsed) {
  std::vector<NodeSeen> seen;
  for (const auto& log : logs) {
    std::error_code ec;
    seen.push_back(node_seen(fs::exists(log, ec) ? read_file(log) : std::string(), o.nodes == 1));
    if (!seen.back().joined) return false;
  }
  // Every node joined, but a ready line (its name) may come after its joined line.
  const std::string summary = cluster_summary(seen, elapsed);
  if (summary.empty()) return false;
  std::printf("grappe-build qemu: %s\n", summary.c_str());
  std::fflush(stdout);
  return true;
}

int run_vms(const QemuOptions& o, const std::string& accel, int http_port) {
  const fs::path dir = o.dir;
  const bool may_fall_back = o.accel == "auto" && accel == "kvm";
  const int timeout = o.timeout_s > 0 ? o.timeout_s : (accel == "kvm" ? 300 : 900);
  VmGuard guard;
  std::vector<fs::path> logs;
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);  // how to reach the nodes: this program's console
  if (self.empty()) self = "grappe-build";
  auto start_vm = [&](int i) {
    fs::path vars = dir / ("node" + std::to_string(i) + "-OVMF_VARS.fd");
    const std::string b = node_boot(o.boot, i);
    if (b == "uefi" || b == "uefi-net") fs::copy_file(kOvmfVars, vars, fs::copy_options::overwrite_existing);
    auto argv = qemu_command(o, i, accel, vars, http_port);
    write_file_atomic(dir / ("node" + std::to_string(i) + ".cmd"), join_argv(argv) + "\n");
    guard.pids[static_cast<size_t>(i - 1)] = spawn(argv, dir / ("node" + std::to_string(i) + ".qemu.log"));
    std::printf("node%d: pid %d, MAC %s, serial log %s\n  its root shell: %s console --dir %s --node %d "
                "(Ctrl-] detaches; -- COMMAND runs one command)\n",
                i, guard.pids[static_cast<size_t>(i - 1)], node_mac(i).c_str(), logs[static_cast<size_t>(i - 1)].c_str(),
                self.c_str(), dir.c_str(), i);
    std::fflush(stdout);
  };
  auto held_net = [&](int i) {
    const std::string b = node_boot(o.boot, i);
    return !o.hold_net.empty() && (b == "net" || b == "uefi-net" || b == "kernel");
  };
  bool staggering = !o.stagger.empty() && o.nodes > 1;
  auto held = [&](int i) { return held_net(i) || (staggering && i > 1); };
  guard.pids.assign(static_cast<size_t>(o.nodes), -1);
  for (int i = 1; i <= o.nodes; ++i) {
    fs::path serial = dir / ("node" + std::to_string(i) + ".log");
    fs::remove(serial);
    logs.push_back(serial);
    if (held_net(i)) std::printf("node%d: starts once %s exists (--hold-net)\n", i, o.hold_net.c_str());
    else if (held(i)) std::printf("node%d: starts once node 1 shows \"%s\" (--stagger)\n", i, o.stagger.c_str());
  }
  bool holding = !o.hold_net.empty();
  std::vector<bool> started(static_cast<size_t>(o.nodes) + 1, false);
  auto start_due = [&] {  // every VM that nothing holds any more, once
    for (int i = 1; i <= o.nodes; ++i)
      if (!started[static_cast<size_t>(i)] && !(holding && held_net(i)) && !(staggering && i > 1))
        started[static_cast<size_t>(i)] = true, start_vm(i);
  };
  start_due();
  std::printf("segment: multicast 230.0.0.1:%d on 127.0.0.1 (%s, %s boot)%s\n", o.port, accel.c_str(), o.boot.c_str(),
              o.until.empty() ? "; Ctrl-C stops every VM" : "");
  std::fflush(stdout);

  auto start = std::chrono::steady_clock::now();
  std::vector<bool> reached(o.nodes, false);
  bool formed = false;
  for (;;) {
    if (g_stop) {
      std::printf("grappe-build qemu: stopping %d VMs\n", o.nodes);
      return o.until.empty() ? 0 : 130;
    }
    if (staggering && until_reached(fs::exists(logs[0]) ? read_file(logs[0]) : std::string(), {o.stagger}))
      staggering = false;  // node 1 is ahead: the others may start
    if (holding && fs::exists(o.hold_net)) holding = false;
    start_due();
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (int i = 0; i < o.nodes; ++i)
      if (auto rc = watch_node(o, i, guard, logs[static_cast<size_t>(i)], reached, may_fall_back, el)) return *rc;
    if (!formed) formed = report_formed(o, logs, el);
    if (!o.until.empty() && std::find(reached.begin(), reached.end(), false) == reached.end()) return 0;
    if (!o.until.empty() && el > timeout) {
      for (int i = 0; i < o.nodes; ++i)
        if (!reached[i])
          std::fprintf(stderr, "grappe-build qemu: node%d did not print %s within %d s; last serial lines:\n%s",
                       i + 1, until_text(o.until).c_str(), timeout, log_tail(logs[i].string(), 30).c_str());
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

}  // namespace grappe::build
