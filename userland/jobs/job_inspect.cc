#include "jobs/job_inspect.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "common/text_file.h"

namespace grappe {
namespace fs = std::filesystem;
namespace {

bool under(const std::string& path, const std::string& prefix) { return path.rfind(prefix, 0) == 0; }
bool under_any(const std::string& path, const std::vector<std::string>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(), [&](const std::string& p) { return under(path, p); });
}

// Whether descriptor `fd` of a process is open for reading only (/proc/<pid>/fdinfo/<fd>'s
// "flags:" line, octal; O_ACCMODE is its two low bits). False when unknown.
bool read_only(const std::string& base, const std::string& fd) {
  std::istringstream info(read_text(base + "/fdinfo/" + fd));
  for (std::string key; info >> key;) {
    if (key != "flags:") continue;
    unsigned long flags = 0;
    if (!(info >> std::oct >> flags)) return false;
    return (flags & 3u) == 0;  // O_RDONLY
  }
  return false;
}

}  // namespace

std::vector<pid_t> job_processes(const std::string& proc, pid_t init) {
  std::vector<pid_t> out = {init};
  for (size_t i = 0; i < out.size() && out.size() < 4096; ++i) {
    std::istringstream kids(read_text(proc + "/" + std::to_string(out[i]) + "/task/" + std::to_string(out[i]) + "/children"));
    for (pid_t k; kids >> k;) out.push_back(k);
  }
  return out;
}

std::vector<std::string> stat_fields(const std::string& stat) {
  std::vector<std::string> f;
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return f;
  std::istringstream rest(stat.substr(close + 1));
  for (std::string w; rest >> w;) f.push_back(w);
  return f;
}

JobUsage job_usage(const std::string& proc, const std::vector<pid_t>& pids) {
  JobUsage u;
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const uint64_t page_kb = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)) / 1024;
  for (pid_t p : pids) {
    const auto f = stat_fields(read_text(proc + "/" + std::to_string(p) + "/stat"));
    if (f.size() > 21) {  // utime/stime are fields 14/15, cutime/cstime 16/17, rss field 24
      // A process's own time and that of the children it reaped: the job's CPU time does not fall
      // when a worker exits (its time moves to the job-init's cutime as it is waited for).
      u.cpu_s += (std::stod(f[11]) + std::stod(f[12]) + std::stod(f[13]) + std::stod(f[14])) / tick;
      u.rss_kb += std::stoull(f[21]) * page_kb;
      u.runnable += f[0] == "R";
    }
  }
  return u;
}

std::string why_not_movable(const std::string& proc, const std::vector<pid_t>& pids,
                            const std::vector<std::string>& shared, const std::string& upper) {
  static const std::vector<std::string> devices = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"};
  static const std::vector<std::string> scratch = {"/tmp/", "/var/tmp/", "/run/", "/dev/shm/"};
  // The image's own files: every node boots the same image, so a file here read and not written,
  // and not changed on this node (absent from the RAM layer), is at the same path everywhere, as
  // the libraries every job maps already are (CRIU checks the size again on restore). The
  // dynamic loader holds libc.so.6 open for a moment at each exec.
  static const std::vector<std::string> image = {"/usr/", "/etc/", "/opt/"};
  for (pid_t p : pids) {
    const std::string base = proc + "/" + std::to_string(p);
    const std::string where = "(pid " + std::to_string(p) + ")";
    std::error_code ec;
    std::string cwd = fs::read_symlink(base + "/cwd", ec).string();
    if (!ec && under_any(cwd + "/", scratch)) return "works in node-local directory " + cwd + " " + where;
    for (const auto& e : fs::directory_iterator(base + "/fd", ec)) {
      std::string fd = e.path().filename().string();
      std::string target = fs::read_symlink(e.path(), ec).string();
      if (ec) continue;  // closed meanwhile
      std::string at = "(pid " + std::to_string(p) + ", fd " + fd + ")";
      if (under(target, "pipe:[")) continue;
      if (under(target, "socket:[")) return "holds a socket " + at;
      if (std::find(devices.begin(), devices.end(), target) != devices.end()) continue;
      if (under(target, "/dev/")) return "holds device " + target + " " + at;
      if (under(target, "anon_inode:")) return "holds " + target + " " + at;
      if (target.empty() || target[0] != '/') return "holds " + target + " " + at;
      if (under_any(target, shared)) continue;
      std::error_code gone;
      if (under_any(target, image) && read_only(base, fd) && !fs::exists(fs::symlink_status(upper + target, gone))) continue;
      return "holds node-local file " + target + " " + at;
    }
  }
  return "";
}

}  // namespace grappe
