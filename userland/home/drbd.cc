#include "home/drbd.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/text_file.h"
#include "common/text_store.h"
#include "home/overlay.h"

namespace grappe {
namespace {

// "key:value" of a status line's field, "" when absent.
std::string field(const std::string& line, const std::string& key) {
  std::istringstream in(line);
  for (std::string w; in >> w;)
    if (w.rfind(key + ":", 0) == 0) return w.substr(key.size() + 1);
  return "";
}

void split_pair(const std::string& v, std::string& a, std::string& b) {
  const size_t slash = v.find('/');
  a = v.substr(0, slash);
  b = slash == std::string::npos ? "" : v.substr(slash + 1);
}

}  // namespace

DrbdState parse_proc_drbd(const std::string& text, int minor) {
  DrbdState s;
  std::istringstream in(text);
  const std::string head = std::to_string(minor) + ":";
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos) continue;
    const std::string t = line.substr(start);
    // A minor's block starts with "N: cs:…"; its following lines are indented.
    if (t.size() > 1 && std::isdigit(static_cast<unsigned char>(t[0])) && t.find(": cs:") != std::string::npos) {
      inside = t.rfind(head + " ", 0) == 0;
      if (!inside) continue;
      s.cs = field(t, "cs");
      s.configured = !s.cs.empty() && s.cs != "Unconfigured";
      split_pair(field(t, "ro"), s.role, s.peer_role);
      split_pair(field(t, "ds"), s.disk, s.peer_disk);
      continue;
    }
    if (!inside) continue;
    if (size_t p = t.find("sync'ed:"); p != std::string::npos) {
      const char* num = t.c_str() + p + 8;
      char* end = nullptr;
      const double v = std::strtod(num, &end);
      if (end != num && v >= 0 && v <= 100) s.sync_pct = v;
    }
  }
  return s;
}

std::string drbd_conf(const DrbdSpec& s) {
  // An address no node has (node numbers stop at 65534), for a resource with no standby yet.
  const uint32_t peer = s.peer_ip ? s.peer_ip : overlay_ip(0xffff);
  std::string c =
      "# Written by grapped (home/drbd.h): the replicated /home. Rewritten at every change.\n"
      "global { usage-count no; }\n"
      "resource home {\n"
      "  protocol C;\n"
      "  device /dev/drbd0 minor 0;\n"
      "  meta-disk " + (s.meta.empty() ? std::string("internal") : s.meta) + ";\n"
      // A resync to a fresh RAM-backed standby writes zeroes as discards: its tmpfs stays sparse.
      // It runs at full speed: the default controller throttles it to 250 KB/s while the
      // filesystem is in use (ext4's lazy inode-table init alone counts as use).
      "  disk { on-io-error detach; rs-discard-granularity 65536; c-plan-ahead 0; resync-rate 1000M; c-min-rate 0;" +
      (s.size_mb ? " size " + std::to_string(s.size_mb) + "M;" : std::string()) + " }\n"
      // A dead peer is noticed within about 3 s (the defaults take 10 or more): the standby of a
      // dead server may promote only once DRBD itself no longer sees the server.
      "  net { after-sb-0pri discard-zero-changes; after-sb-1pri discard-secondary; after-sb-2pri disconnect;\n"
      "        ping-int 3; ping-timeout 10; timeout 20; connect-int 3; }\n";
  for (uint32_t ip : {s.self_ip, peer})
    c += "  floating ipv4 " + ip4_text(ip) + ":" + std::to_string(kDrbdPort) + " { disk " + s.disk + "; }\n";
  return c + "}\n";
}

Drbd::Drbd(CommandRunner& run, std::string dir, std::string helper_param)
    : run_(run), dir_(std::move(dir)), helper_param_(std::move(helper_param)) {}

std::string Drbd::adm(std::vector<std::string> args, double timeout_s) {
  std::vector<std::string> argv = {"drbdadm", "-c", dir_ + "/drbd.conf"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_checked(run_, argv, timeout_s);
}

std::string Drbd::write(const DrbdSpec& s) {
  ::mkdir(dir_.c_str(), 0700);
  FileStore fs;
  if (std::string why = fs.write(dir_ + "/drbd.conf", drbd_conf(s)); !why.empty()) return why;
  spec_ = s;
  return "";
}

std::string Drbd::create(bool fresh) {
  CommandResult m = run_.run({"modprobe", "drbd"}, 60);
  if (m.status != 0) return "cannot load the drbd kernel module: " + first_line(m.output);
  // DRBD calls a user-space helper (drbdadm, which reads /etc/drbd.conf, not this resource's
  // file) on some state changes, and the caller waits for it: seen blocking the promoted copy's
  // mount. No handler is configured here, so the helper is a no-op.
  if (std::ofstream helper(helper_param_); helper) helper << "/bin/true\n";
  if (fresh)
    if (std::string why = adm({"--force", "create-md", "home"}, 120); !why.empty()) return why;
  return adm({"up", "home"});
}

std::string Drbd::primary(bool force) { return force ? adm({"primary", "--force", "home"}) : adm({"primary", "home"}, 30); }
std::string Drbd::secondary() { return adm({"secondary", "home"}); }
std::string Drbd::adjust() { return adm({"adjust", "home"}); }
std::string Drbd::disconnect(bool force) {
  return force ? adm({"disconnect", "--force", "home"}, 30) : adm({"disconnect", "home"});
}
std::string Drbd::down() { return adm({"down", "home"}); }

}  // namespace grappe
