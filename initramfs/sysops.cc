#include "sysops.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "common/fd_io.h"

namespace fs = std::filesystem;

namespace grappe::init {
namespace {
bool g_debug = false;
}

void set_debug(bool on) { g_debug = on; }

void log(const std::string& msg) {
  std::string line = "grappe-init: " + msg + "\n";
  write_all(1, line);
}

void debug_log(const std::string& msg) {
  if (g_debug) log(msg);
}

bool mount_fs(const std::string& src, const std::string& target, const std::string& type, unsigned long flags,
              const std::string& data, std::string& error) {
  mkdirs(target);
  if (::mount(src.c_str(), target.c_str(), type.empty() ? nullptr : type.c_str(), flags,
              data.empty() ? nullptr : data.c_str()) == 0)
    return true;
  error = "mount " + src + " on " + target + " (" + type + "): " + std::strerror(errno);
  return false;
}

void mkdirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
}

bool write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

bool ModuleLoader::load_path(const std::string& rel) {
  if (loaded_.count(rel)) return true;
  if (failed_.count(rel)) return false;
  for (const auto& dep : idx_.load_order(rel))
    if (!loaded_.count(dep)) load_path(dep);
  std::string path = dir_ + "/" + rel;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    log("module file missing: " + path);
    failed_.insert(rel);
    return false;
  }
  long rc = ::syscall(SYS_finit_module, fd, "", 0);
  int err = errno;
  ::close(fd);
  if (rc != 0 && err != EEXIST) {
    debug_log("loading " + module_name(rel) + " failed: " + std::strerror(err));
    failed_.insert(rel);
    return false;
  }
  debug_log("loaded " + module_name(rel));
  loaded_.insert(rel);
  return true;
}

bool ModuleLoader::load(const std::string& name) {
  auto it = idx_.by_name.find(name);
  if (it == idx_.by_name.end()) return true;  // built in, or not shipped
  return load_path(it->second);
}

int ModuleLoader::coldplug() {
  int count = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator("/sys/devices", fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->path().filename() != "modalias") continue;
    std::string alias = read_text(it->path().string());
    while (!alias.empty() && (alias.back() == '\n' || alias.back() == ' ')) alias.pop_back();
    if (alias.empty()) continue;
    for (const auto& name : idx_.match(alias)) {
      auto p = idx_.by_name.find(name);
      if (p == idx_.by_name.end() || loaded_.count(p->second) || failed_.count(p->second)) continue;
      if (load_path(p->second)) ++count;
    }
  }
  return count;
}

std::string attach_loop(const std::string& file, std::string& error) {
  int ctl = ::open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (ctl < 0) {
    error = std::string("/dev/loop-control: ") + std::strerror(errno) + " (is the loop module loaded?)";
    return "";
  }
  int n = ::ioctl(ctl, LOOP_CTL_GET_FREE);
  ::close(ctl);
  if (n < 0) {
    error = std::string("LOOP_CTL_GET_FREE: ") + std::strerror(errno);
    return "";
  }
  std::string dev = "/dev/loop" + std::to_string(n);
  int lfd = -1;
  for (int i = 0; i < 50 && lfd < 0; ++i) {  // devtmpfs creates the node asynchronously
    lfd = ::open(dev.c_str(), O_RDWR | O_CLOEXEC);
    if (lfd < 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  int ffd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (lfd < 0 || ffd < 0) {
    error = "cannot open " + (lfd < 0 ? dev : file) + ": " + std::strerror(errno);
    if (lfd >= 0) ::close(lfd);
    if (ffd >= 0) ::close(ffd);
    return "";
  }
  loop_config cfg{};
  cfg.fd = static_cast<__u32>(ffd);
  cfg.info.lo_flags = LO_FLAGS_READ_ONLY;  // no AUTOCLEAR: it would detach once this fd closes
  std::strncpy(reinterpret_cast<char*>(cfg.info.lo_file_name), file.c_str(), LO_NAME_SIZE - 1);
  int rc = ::ioctl(lfd, LOOP_CONFIGURE, &cfg);
  if (rc < 0) error = "LOOP_CONFIGURE " + dev + " <- " + file + ": " + std::strerror(errno);
  ::close(ffd);
  ::close(lfd);
  return rc < 0 ? "" : dev;
}

std::vector<std::pair<std::string, std::string>> ethernet_interfaces() {
  std::vector<std::pair<std::string, std::string>> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/sys/class/net", ec)) {
    auto name = e.path().filename().string();
    if (!fs::exists(e.path() / "device")) continue;
    auto type = read_text((e.path() / "type").string());
    if (type.rfind("1", 0) != 0) continue;
    auto mac = read_text((e.path() / "address").string());
    while (!mac.empty() && mac.back() == '\n') mac.pop_back();
    out.emplace_back(name, mac);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool dhcp(const std::string& ifname) {
  pid_t pid = ::fork();
  if (pid == 0) {
    const char* argv[] = {"/bin/busybox", "udhcpc", "-i", ifname.c_str(), "-f", "-q", "-n", "-t", "4", "-T", "3",
                          "-s", "/lib/grappe/udhcpc.script", nullptr};
    ::execv(argv[0], const_cast<char* const*>(argv));
    _exit(127);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

[[noreturn]] void switch_root(const std::string& newroot, const std::string& init) {
  for (const char* m : {"/dev", "/proc", "/sys", "/run"}) {
    std::string target = newroot + m;
    mkdirs(target);
    if (::mount(m, target.c_str(), nullptr, MS_MOVE, nullptr) != 0)
      log(std::string("moving ") + m + " failed: " + std::strerror(errno));
  }
  // Free the initramfs: everything on it except the new root's mount point, never crossing
  // into another filesystem (a mount that failed to move stays untouched).
  struct stat root_st{};
  ::lstat("/", &root_st);
  std::function<void(const std::string&)> wipe = [&](const std::string& p) {
    struct stat st{};
    if (::lstat(p.c_str(), &st) != 0 || st.st_dev != root_st.st_dev) return;
    if (S_ISDIR(st.st_mode)) {
      std::error_code ec;
      std::vector<std::string> kids;
      for (const auto& e : fs::directory_iterator(p, ec)) kids.push_back(e.path().string());
      for (const auto& k : kids) wipe(k);
      ::rmdir(p.c_str());
    } else {
      ::unlink(p.c_str());
    }
  };
  std::error_code ec;
  std::vector<std::string> top;
  for (const auto& e : fs::directory_iterator("/", ec))
    if (e.path() != newroot) top.push_back(e.path().string());
  for (const auto& t : top) wipe(t);
  if (::chdir(newroot.c_str()) != 0 || ::mount(".", "/", nullptr, MS_MOVE, nullptr) != 0 || ::chroot(".") != 0 ||
      ::chdir("/") != 0) {
    log(std::string("switching to the new root failed: ") + std::strerror(errno));
    for (;;) ::pause();
  }
  const char* argv[] = {init.c_str(), nullptr};
  ::execv(init.c_str(), const_cast<char* const*>(argv));
  log("exec " + init + " failed: " + std::strerror(errno));
  for (;;) ::pause();
}

}  // namespace grappe::init
