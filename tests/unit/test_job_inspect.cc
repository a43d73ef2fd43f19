#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "jobs/job_inspect.h"

using namespace grappe;
namespace fs = std::filesystem;

namespace {
// A fake /proc: pid 1 (init) with child 2; stat lines with utime/stime/rss; fd links.
struct FakeProc {
  fs::path root;
  FakeProc() {
    char tmpl[] = "/tmp/grappe-proc-XXXXXX";
    root = ::mkdtemp(tmpl);
    add(1, {2}, "1 (grappe-job-init) S 0 1 1 0 -1 4194560 1 0 0 0 10 5 0 0 20 0 1 0 1 1000 100");
    add(2, {}, "2 (my (odd) prog) R 1 1 1 0 -1 4194560 1 0 0 0 200 100 0 0 20 0 1 0 1 1000 1000");
  }
  ~FakeProc() { fs::remove_all(root); }
  void add(int pid, std::vector<int> kids, const std::string& stat) {
    fs::path p = root / std::to_string(pid);
    fs::create_directories(p / "task" / std::to_string(pid));
    fs::create_directories(p / "fd");
    std::ofstream(p / "stat") << stat << "\n";
    std::ofstream c(p / "task" / std::to_string(pid) / "children");
    for (int k : kids) c << k << " ";
    fs::create_directory_symlink("/home/ann", p / "cwd");
    link(pid, 0, "/dev/null");
    link(pid, 1, "pipe:[1234]");
  }
  void link(int pid, int fd, const std::string& target, const char* flags = nullptr) {
    fs::create_symlink(target, root / std::to_string(pid) / "fd" / std::to_string(fd));
    if (!flags) return;
    fs::create_directories(root / std::to_string(pid) / "fdinfo");
    std::ofstream(root / std::to_string(pid) / "fdinfo" / std::to_string(fd)) << "pos:\t0\nflags:\t" << flags << "\nmnt_id:\t25\n";
  }
};
}  // namespace

TEST_CASE("job inspection: the process tree and its CPU time and memory") {
  FakeProc p;
  auto pids = job_processes(p.root.string(), 1);
  REQUIRE(pids == std::vector<pid_t>{1, 2});
  auto u = job_usage(p.root.string(), pids);
  double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  CHECK(u.cpu_s == doctest::Approx((10 + 5 + 200 + 100) / tick));
  CHECK(u.rss_kb == (100 + 1000) * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)) / 1024);
}

TEST_CASE("job inspection: a worker that exited still counts, through the job-init's reaped children's time") {
  FakeProc p;  // the worker (pid 2, 300 ticks) exited and was waited for: its time is pid 1's cutime/cstime
  p.add(3, {}, "3 (grappe-job-init) S 0 3 3 0 -1 4194560 1 0 0 0 10 5 250 50 20 0 1 0 1 1000 100");
  auto u = job_usage(p.root.string(), {3});
  CHECK(u.cpu_s == doctest::Approx((10 + 5 + 250 + 50) / static_cast<double>(::sysconf(_SC_CLK_TCK))));
}

TEST_CASE("job inspection: pipes, /dev/null and shared files move; local files, sockets, devices do not") {
  FakeProc p;
  auto pids = job_processes(p.root.string(), 1);
  CHECK(why_not_movable(p.root.string(), pids) == "");
  p.link(2, 3, "/home/ann/data.bin");
  CHECK(why_not_movable(p.root.string(), pids) == "");
  SUBCASE("node-local file") {
    p.link(2, 4, "/tmp/scratch");
    CHECK(why_not_movable(p.root.string(), pids) == "holds node-local file /tmp/scratch (pid 2, fd 4)");
  }
  SUBCASE("the image's files read, as the loader holds libc at each exec") {
    p.link(2, 4, "/usr/lib/x86_64-linux-gnu/libc.so.6", "02100000");  // O_RDONLY|O_CLOEXEC|O_LARGEFILE
    p.link(1, 5, "/etc/ld.so.cache", "0100000");
    const fs::path upper = p.root / "upper";  // this node's RAM layer
    fs::create_directories(upper / "etc");
    CHECK(why_not_movable(p.root.string(), pids, {"/home/"}, upper.string()) == "");
    SUBCASE("but not one this node wrote or changed (in its RAM layer)") {
      p.link(2, 6, "/etc/machine-id", "0100000");
      std::ofstream(upper / "etc/machine-id") << "0123\n";
      CHECK(why_not_movable(p.root.string(), pids, {"/home/"}, upper.string()) ==
            "holds node-local file /etc/machine-id (pid 2, fd 6)");
    }
  }
  SUBCASE("the image's files written, or with unknown flags, stay") {
    SUBCASE("written") {
      p.link(2, 4, "/etc/motd", "0100002");  // O_RDWR
      CHECK(why_not_movable(p.root.string(), pids) == "holds node-local file /etc/motd (pid 2, fd 4)");
    }
    SUBCASE("write-only") {
      p.link(2, 4, "/usr/local/log", "0101");  // O_WRONLY|O_CREAT... low bits 01
      CHECK(why_not_movable(p.root.string(), pids) == "holds node-local file /usr/local/log (pid 2, fd 4)");
    }
    SUBCASE("no fdinfo") {
      p.link(2, 4, "/usr/share/dict/words");
      CHECK(why_not_movable(p.root.string(), pids) == "holds node-local file /usr/share/dict/words (pid 2, fd 4)");
    }
  }
  SUBCASE("a node-local file read is still node-local") {
    p.link(2, 4, "/var/lib/x.db", "0100000");
    CHECK(why_not_movable(p.root.string(), pids) == "holds node-local file /var/lib/x.db (pid 2, fd 4)");
  }
  SUBCASE("socket") {
    p.link(2, 5, "socket:[99]");
    CHECK(why_not_movable(p.root.string(), pids) == "holds a socket (pid 2, fd 5)");
  }
  SUBCASE("terminal") {
    p.link(1, 6, "/dev/pts/3");
    CHECK(why_not_movable(p.root.string(), pids) == "holds device /dev/pts/3 (pid 1, fd 6)");
  }
  SUBCASE("working in node-local scratch") {
    fs::remove(p.root / "2" / "cwd");
    fs::create_directory_symlink("/tmp/build", p.root / "2" / "cwd");
    CHECK(why_not_movable(p.root.string(), pids) == "works in node-local directory /tmp/build (pid 2)");
  }
}
