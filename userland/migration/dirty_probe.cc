#include "migration/dirty_probe.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "jobs/job_inspect.h"

namespace grappe {
namespace {

constexpr uint64_t kPresent = 1ull << 63, kSwapped = 1ull << 62, kSoftDirty = 1ull << 55;

struct Range {
  uint64_t start = 0, end = 0;
};

// Writable private mappings: where a job's own data lives (heap, stack, anonymous, data).
std::vector<Range> writable_private(const std::string& maps_path) {
  std::vector<Range> out;
  std::ifstream in(maps_path);
  for (std::string line; std::getline(in, line);) {
    unsigned long long a = 0, b = 0;
    char perms[5] = {};
    if (std::sscanf(line.c_str(), "%llx-%llx %4s", &a, &b, perms) != 3 || b <= a) continue;
    if (perms[1] != 'w' || perms[3] != 'p') continue;
    if (line.find("[vsyscall]") != std::string::npos || line.find("[vvar]") != std::string::npos) continue;
    out.push_back({a, b});
  }
  return out;
}

}  // namespace

bool clear_soft_dirty(const std::string& proc, const std::vector<pid_t>& pids) {
  for (pid_t p : pids) {
    std::ofstream o(proc + "/" + std::to_string(p) + "/clear_refs");
    if (!(o << "4") || !o.flush()) return false;
  }
  return !pids.empty();
}

DirtyCount count_soft_dirty(const std::string& proc, const std::vector<pid_t>& pids) {
  DirtyCount c;
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  std::vector<uint64_t> buf(4096);
  for (pid_t p : pids) {
    const std::string dir = proc + "/" + std::to_string(p);
    int fd = ::open((dir + "/pagemap").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    for (const Range& r : writable_private(dir + "/maps")) {
      for (uint64_t vpn = r.start / page; vpn < r.end / page;) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), r.end / page - vpn));
        ssize_t got = ::pread(fd, buf.data(), n * 8, static_cast<off_t>(vpn * 8));
        if (got <= 0) break;
        for (size_t i = 0; i < static_cast<size_t>(got) / 8; ++i) {
          if (!(buf[i] & (kPresent | kSwapped))) continue;
          ++c.resident;
          if (buf[i] & kSoftDirty) ++c.dirty;
        }
        vpn += static_cast<uint64_t>(got) / 8;
      }
    }
    ::close(fd);
  }
  return c;
}

double dirty_share(const std::string& proc, pid_t init, double seconds) {
  const auto pids = job_processes(proc, init);
  if (pids.empty() || !clear_soft_dirty(proc, pids)) return -1;
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const DirtyCount c = count_soft_dirty(proc, pids);
  if (c.resident == 0) return -1;
  return static_cast<double>(c.dirty) / static_cast<double>(c.resident);
}

}  // namespace grappe
