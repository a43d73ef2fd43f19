// grappe-migrate-selftest: checkpoints a job on this node and restores it here, through the same
// code grapped uses to migrate (CloneSpawner, CRIU checkpointer with its two holds, stdio pipes
// passed on), and checks the job goes on exactly where it stopped, its output neither lost nor
// repeated. Prints dump, freeze and restore times for a job of --rss MiB (ci/bench-migration).
//   grappe-migrate-selftest [--rss MB] [--dir DIR]      as root, on a node with CRIU
//   grappe-migrate-selftest --worker MB                 the job itself (internal)
//   grappe-migrate-selftest --compute ROUNDS MB         a deterministic job for migration tests:
//       CPU work over MB MiB, one checksum line per round, exit status 3
//   grappe-migrate-selftest --encode ROUNDS MB          a stand-in for an encoder (ci/bench-balance):
//       the same work per round on one 64 KiB block of its MB MiB, block after block
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/mono_clock.h"
#include "migration/criu_checkpointer.h"
#include "jobs/job_spawn.h"

using namespace grappe;
namespace fs = std::filesystem;

namespace {

// The job: RSS of `mb` MiB with a known pattern; prints "tick N" every 50 ms, checking a word of
// every page each time.
int worker(long mb) {
  std::vector<uint64_t> mem(static_cast<size_t>(mb) << 17);
  for (size_t i = 0; i < mem.size(); ++i) mem[i] = i * 2654435761u;
  for (uint64_t n = 1;; ++n) {
    for (size_t i = 0; i < mem.size(); i += 512)
      if (mem[i] != i * 2654435761u) {
        std::printf("corrupt at %zu\n", i);
        return 3;
      }
    std::printf("tick %llu\n", static_cast<unsigned long long>(n));
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// Reads lines from `fd` for `secs`; returns them.
std::vector<std::string> read_lines(int fd, double secs, std::string& partial) {
  std::vector<std::string> out;
  double end = now_s() + secs;
  char buf[4096];
  while (now_s() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    partial.append(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = partial.find('\n')) != std::string::npos; partial.erase(0, nl + 1)) out.push_back(partial.substr(0, nl));
  }
  return out;
}

// Same output wherever and however often it is moved: the test compares it with an unmoved run.
int compute(long rounds, long mb) {
  std::vector<uint64_t> mem(static_cast<size_t>(mb) << 17);
  for (size_t i = 0; i < mem.size(); ++i) mem[i] = i;
  for (long r = 1; r <= rounds; ++r) {
    uint64_t sum = 0;
    for (size_t i = 0; i < mem.size(); ++i) {
      mem[i] = mem[i] * 6364136223846793005ull + static_cast<uint64_t>(r);
      sum ^= mem[i] >> 17;
    }
    std::printf("round %ld of %ld: %016llx\n", r, rounds, static_cast<unsigned long long>(sum));
    std::fflush(stdout);
  }
  return 3;
}

// Like compute(), as many operations per round, but the way an encoder works: hard on one frame
// at a time (a block that stays in the CPU's cache), walking through its input in memory. The
// MB MiB stay resident (a migration moves them all) but are not streamed through every round.
int encode(long rounds, long mb) {
  std::vector<uint64_t> mem(static_cast<size_t>(mb) << 17);
  for (size_t i = 0; i < mem.size(); ++i) mem[i] = i;
  const size_t block = std::min<size_t>(8192, mem.size()), passes = mem.size() / block;
  for (long r = 1; r <= rounds; ++r) {
    uint64_t* b = mem.data() + (static_cast<size_t>(r - 1) % passes) * block, sum = 0;
    for (size_t p = 0; p < passes; ++p)
      for (size_t i = 0; i < block; ++i) {
        b[i] = b[i] * 6364136223846793005ull + static_cast<uint64_t>(r);
        sum ^= b[i] >> 17;
      }
    std::printf("frame %ld of %ld: %016llx\n", r, rounds, static_cast<unsigned long long>(sum));
    std::fflush(stdout);
  }
  return 3;
}

long tick_of(const std::string& line) { return line.rfind("tick ", 0) == 0 ? std::atol(line.c_str() + 5) : -1; }

// The command line: an exit code when that is all there is to do (a test job, --help), else -1.
int parse_args(int argc, char** argv, long& rss, std::string& dir) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--worker" && i + 1 < argc) return worker(std::atol(argv[i + 1]));
    if (a == "--compute" && i + 2 < argc) return compute(std::atol(argv[i + 1]), std::atol(argv[i + 2]));
    if (a == "--encode" && i + 2 < argc) return encode(std::atol(argv[i + 1]), std::atol(argv[i + 2]));
    if (a == "--rss" && i + 1 < argc) rss = std::atol(argv[++i]);
    else if (a == "--dir" && i + 1 < argc) dir = argv[++i];
    else {
      std::printf("usage: grappe-migrate-selftest [--rss MB] [--dir DIR]\n"
                  "Checkpoints a test job of MB MiB and restores it on this node with grapped's migration code;\n"
                  "checks its output continues exactly once and prints the timings. Needs root and CRIU.\n");
      return a == "--help" ? 0 : 2;
    }
  }
  return -1;
}

// The test job of `rss` MiB, under the grappe-job-init next to this binary (or the installed one).
Spawned start_worker(long rss) {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    Spawned none;
    none.error = "cannot read /proc/self/exe";
    return none;
  }
  self[n] = 0;
  SpawnSpec spec;
  spec.argv = {self, "--worker", std::to_string(rss)};
  spec.cwd = "/";
  spec.init_path = fs::path(self).parent_path() / "grappe-job-init";
  if (!fs::exists(spec.init_path)) spec.init_path = "/usr/lib/grappe/grappe-job-init";
  CloneSpawner spawner;
  return spawner.spawn(spec);
}

}  // namespace

int main(int argc, char** argv) {
  long rss = 16;
  std::string dir = "/var/lib/grappe/selftest";
  if (int rc = parse_args(argc, argv, rss, dir); rc >= 0) return rc;
  ::signal(SIGPIPE, SIG_IGN);
  std::string why;
  auto criu = make_checkpointer(why);
  if (!why.empty()) {
    std::fprintf(stderr, "grappe-migrate-selftest: %s\n", why.c_str());
    return 1;
  }
  Spawned job = start_worker(rss);
  if (job.pid < 0) {
    std::fprintf(stderr, "grappe-migrate-selftest: cannot start the job: %s\n", job.error.c_str());
    return 1;
  }
  std::string part1, part2;
  auto before = read_lines(job.out, 1.0 + static_cast<double>(rss) / 32.0, part1);
  nlohmann::json offer = {{"stdio", stdio_pipe_keys("/proc", job.pid)}};
  std::error_code ec;
  fs::remove_all(dir, ec);
  const std::string img = dir + "/dump";
  RestoreResult rr;
  double t0 = now_s(), t_hold = 0, t_restored = 0, quiet_lines = -1;
  uint64_t bytes = 0;
  DumpResult d = criu->dump(job.pid, img, "", [&]() {
    t_hold = now_s();
    for (const auto& e : fs::directory_iterator(img, ec)) bytes += e.is_regular_file() ? e.file_size() : 0;
    rr = criu->restore(img, offer);
    t_restored = now_s();
    if (rr.pid < 0) return false;
    std::string p;
    quiet_lines = static_cast<double>(read_lines(rr.out, 0.5, p).size());  // held: must print nothing
    return true;
  });
  double t_dumped = now_s();
  int status = 0;
  if (!d.ok) {
    std::fprintf(stderr, "grappe-migrate-selftest: dump failed: %s\n", d.error.c_str());
    if (rr.pid < 0) std::fprintf(stderr, "restore error: %s\n", rr.error.c_str());
    ::kill(job.pid, SIGKILL);
    ::waitpid(job.pid, &status, 0);
    return 1;
  }
  auto rest = read_lines(job.out, 2, part1);  // the source's last lines, up to EOF
  before.insert(before.end(), rest.begin(), rest.end());
  ::waitpid(job.pid, &status, 0);
  bool resumed = criu->resume(rr.pid);
  auto after = read_lines(rr.out, 1.5, part2);
  ::kill(rr.pid, SIGKILL);
  ::waitpid(rr.pid, &status, 0);
  fs::remove_all(dir, ec);
  long last = before.empty() ? -1 : tick_of(before.back()), first = after.empty() ? -1 : tick_of(after.front());
  std::printf("{\"rss_mb\": %ld, \"image_mb\": %.1f, \"dump_s\": %.3f, \"restore_s\": %.3f, \"freeze_s\": %.3f, "
              "\"ticks_before\": %zu, \"ticks_after\": %zu, \"last_before\": %ld, \"first_after\": %ld, \"held_quiet\": %s}\n",
              rss, static_cast<double>(bytes) / 1048576, t_hold - t0, t_restored - t_hold, t_dumped - t0, before.size(),
              after.size(), last, first, quiet_lines == 0 ? "true" : "false");
  if (!resumed) return std::fprintf(stderr, "FAIL: the restored job did not resume\n"), 1;
  if (quiet_lines != 0) return std::fprintf(stderr, "FAIL: the restored job ran while held\n"), 1;
  if (last < 1 || first != last + 1) return std::fprintf(stderr, "FAIL: output did not continue exactly once (last %ld, next %ld)\n", last, first), 1;
  std::printf("ok: checkpoint and restore kept the job's output exactly once\n");
  return 0;
}
