// Jobs across restarts of grapped: the job record (jobs.json) round-trips and refuses damaged
// entries; adopt() takes over a live process (checked by pid and start time, signalled through a
// pidfd) with its pipes from the descriptor store, holds a formerly attached job's output until its
// caller reattaches (with byte offsets), and ends a job that exited while no grapped watched with
// the status its init wrote; a reused pid is never adopted. The descriptor store speaks systemd's
// notify protocol. Real processes are forked; no grappe-job-init is needed.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>

#include "common/api_protocol.h"
#include "common/mono_clock.h"
#include "jobs/fd_store.h"
#include "jobs/job_pid.h"
#include "jobs/job_record.h"
#include "jobs/job_service.h"

using namespace grappe;
namespace fs = std::filesystem;

namespace {

struct NoSpawner : Spawner {
  Spawned spawn(const SpawnSpec&) override { return {}; }
};

// A stand-in job init: waits for SIGTERM, then writes 143 to `status` (as grappe-job-init does
// with --status-file) and exits.
pid_t fake_init(const std::string& status) {
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigprocmask(SIG_BLOCK, &term, nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int sig = 0;
    sigwait(&term, &sig);
    std::ofstream(status) << 128 + sig << "\n";
    _exit(0);
  }
  sigprocmask(SIG_UNBLOCK, &term, nullptr);
  return pid;
}

// Kills and reaps a forked stand-in on every way out of a test case.
struct Reaped {
  pid_t pid;
  ~Reaped() {
    if (pid > 0 && ::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
  }
};

struct Scratch {
  std::string dir = (fs::temp_directory_path() / ("grappe-restart-" + std::to_string(::getpid()))).string();
  Scratch() { fs::create_directories(dir); }
  ~Scratch() { fs::remove_all(dir); }
};

nlohmann::json record_of(const std::string& id, pid_t pid, uint64_t ticks, const std::string& status, bool attached) {
  Job j;
  j.id = id;
  j.argv = {"job"};
  j.uid = 1000;
  j.user = "ann";
  j.home = j.node = "node1";
  j.pid = pid;
  j.start_ticks = ticks;
  j.status_file = status;
  j.watcher = attached ? 3 : -1;
  return job_record(j);
}

}  // namespace

TEST_CASE("job record: round-trips, and a damaged one is refused naming the field") {
  Job j;
  j.id = "2.17";
  j.argv = {"sh", "-c", "x"};
  j.uid = 1000;
  j.user = "ann";
  j.home = "n2";
  j.pid = 42;
  j.start_ticks = 9999;
  j.status_file = "/var/lib/grappe/exit/2.17";
  j.stay = true;
  j.tty[1] = true;
  j.in = 5;
  j.watcher = 4;
  std::string why;
  auto back = job_from_record(job_record(j), why);
  REQUIRE(back);
  CHECK(back->id == "2.17");
  CHECK(back->argv == j.argv);
  CHECK(back->pid == 42);
  CHECK(back->start_ticks == 9999);
  CHECK(back->stay);
  CHECK(back->tty[1]);
  CHECK_FALSE(back->in_eof);
  CHECK(back->awaiting_caller);
  CHECK(back->adopted);
  back->watcher = -1;  // adopted, its caller not back yet: still written down as attached
  CHECK(job_record(*back)["attached"] == true);
  auto bad = job_record(j);
  bad["pid"] = "42";
  CHECK_FALSE(job_from_record(bad, why));
  CHECK(why.find("\"pid\"") != std::string::npos);
  bad = job_record(j);
  bad.erase("start_ticks");
  CHECK_FALSE(job_from_record(bad, why));
  CHECK(why.find("start_ticks") != std::string::npos);
}

TEST_CASE("job record: a moved job's home record and a guest round-trip; neither is taken for the other") {
  Job r;  // home's record of a job now in its second residence on n3, 700 bytes of stdout delivered before it
  r.id = "1.4";
  r.argv = {"encode"};
  r.user = "bob";
  r.uid = 1001;
  r.home = "n1";
  r.node = "n3";
  r.remote = true;
  r.migrations = 2;
  r.out_epoch = 2;
  r.local_epoch = -1;
  r.epoch_base[1] = 700;
  r.watcher = 5;
  CHECK(job_is_recorded(r));
  std::string why;
  auto back = job_from_record(job_record(r), why);
  REQUIRE(back);
  CHECK(back->remote);
  CHECK_FALSE(back->guest);
  CHECK(back->node == "n3");
  CHECK(back->out_epoch == 2);
  CHECK(back->local_epoch == -1);
  CHECK(back->epoch_base[1] == 700);
  CHECK(back->pid == -1);
  CHECK(back->awaiting_caller);
  CHECK_FALSE(back->sent_known);
  r.migrating = true;  // in the middle of a handoff: not written
  CHECK_FALSE(job_is_recorded(r));

  Job g;  // a guest here, home n1
  g.id = "1.5";
  g.argv = {"sim"};
  g.user = "ann";
  g.home = "n1";
  g.home_number = 1;
  g.guest = true;
  g.pid = 77;
  g.start_ticks = 123;
  g.migrations = 1;
  g.status_file = "/var/lib/grappe/exit/1.5";
  auto gb = job_from_record(job_record(g), why);
  REQUIRE(gb);
  CHECK(gb->guest);
  CHECK(gb->home_number == 1);
  CHECK(gb->local_epoch == 1);
  CHECK(gb->status_file == g.status_file);

  auto both = job_record(g);
  both["remote"] = true;
  both["node"] = "n3";
  CHECK_FALSE(job_from_record(both, why));
  CHECK(why.find("both") != std::string::npos);
  auto bad = job_record(r);
  bad["epoch_base"] = {1, -3};
  CHECK_FALSE(job_from_record(bad, why));
  CHECK(why.find("epoch_base") != std::string::npos);
  bad = job_record(r);
  bad.erase("node");
  CHECK_FALSE(job_from_record(bad, why));
  CHECK(why.find("node") != std::string::npos);
}

TEST_CASE("exit status file: digits and a newline, 0-255; anything else is unknown") {
  Scratch s;
  auto with = [&](const std::string& text) {
    std::ofstream(s.dir + "/st", std::ios::trunc) << text;
    return read_exit_status(s.dir + "/st");
  };
  CHECK(with("7\n") == 7);
  CHECK(with("143") == 143);
  CHECK(with("") == -1);
  CHECK(with("\n") == -1);
  CHECK(with("300\n") == -1);
  CHECK(with("-1\n") == -1);
  CHECK(with(std::string(1 << 20, '7')) == -1);  // the job's owner may make it huge: 16 bytes are read
  CHECK(read_exit_status(s.dir + "/missing") == -1);
  REQUIRE(::mkfifo((s.dir + "/fifo").c_str(), 0600) == 0);
  CHECK(read_exit_status(s.dir + "/fifo") == -1);  // not a regular file: never blocks the loop
}

TEST_CASE("adopt: a live job is taken over; its output waits for its caller, who reattaches with offsets") {
  Scratch s;
  const std::string status = s.dir + "/1.7";
  std::ofstream(status).close();
  const pid_t pid = fake_init(status);
  Reaped guard{pid};
  const uint64_t ticks = process_start_ticks("/proc", pid);
  REQUIRE(ticks != 0);
  int out[2];
  REQUIRE(::pipe(out) == 0);
  REQUIRE(::write(out[1], "kept\n", 5) == 5);  // written while no grapped read
  ::close(out[1]);

  NoSpawner sp;
  JobService js(sp, "/bin/sh", "node1");
  js.set_node_number(1);
  std::vector<nlohmann::json> events;
  js.send = [&](int, const nlohmann::json& ev) { events.push_back(ev); };
  std::multimap<std::string, int> fds = {{job_fd_name("1.7", "out"), out[0]}, {"job.9.9.out", -1}};
  nlohmann::json saved = {{"v", 1}, {"jobs", {record_of("1.7", pid, ticks, status, true)}}};
  std::string line = js.adopt(saved, fds, now_s());
  CHECK(line.find("adopted 1 running job(s)") == 0);
  CHECK(fds.size() == 1);  // its pipe was taken; the unknown one is left for the daemon to drop

  Caller root;
  root.uid = 0;
  auto ps = js.ps({{"v", 1}, {"cmd", "ps"}}, root, now_s());
  REQUIRE(ps["jobs"].size() == 1);
  CHECK(ps["jobs"][0]["id"] == "1.7");

  js.pump(now_s());
  CHECK(events.empty());  // its caller was attached: the output stays in the pipe for it

  Caller other;
  other.uid = 1001;
  other.client = 5;
  bool attached = false;
  CHECK(js.attach({{"v", 1}, {"cmd", "attach"}, {"job", "1.7"}}, other, attached)["ok"] == false);
  Caller ann;
  ann.uid = 1000;
  ann.client = 6;
  CHECK(js.attach({{"v", 1}, {"cmd", "attach"}, {"job", "1.7"}, {"off", {"x", 0}}}, ann, attached)["ok"] == false);
  auto r = js.attach({{"v", 1}, {"cmd", "attach"}, {"job", "1.7"}, {"off", {120, 0}}}, ann, attached);
  CHECK(r["ok"] == true);
  CHECK(attached);
  CHECK(js.table().find("1.7")->in_eof);  // no "stdin": the caller forwards no more input
  js.pump(now_s());
  REQUIRE(events.size() == 1);
  CHECK(events[0]["off"] == 120);  // numbered from where the caller said it was
  std::string raw;
  CHECK((b64_decode(events[0]["data"].get<std::string>(), raw) && raw == "kept\n"));

  CHECK(js.kill({{"v", 1}, {"cmd", "kill"}, {"job", "1.7"}}, ann)["ok"] == true);  // through the pidfd
  ::waitpid(pid, nullptr, 0);  // we are its parent here; a real adopted init is reaped by PID 1
  guard.pid = -1;
  for (int i = 0; i < 100 && js.table().find("1.7")->state == JobState::Running; ++i) {
    ::usleep(10000);
    js.pump(now_s());
  }
  CHECK(js.table().find("1.7")->state == JobState::Exited);
  CHECK(js.table().find("1.7")->exit_code == 143);  // from the status file: not our child
  CHECK(events.back()["ev"] == "exit");
  CHECK_FALSE(fs::exists(status));
}

TEST_CASE("adopt: a job that ended while grapped was away ends with its written status; a reused pid is not adopted") {
  Scratch s;
  const std::string status = s.dir + "/1.8";
  std::ofstream(status) << "3\n";
  NoSpawner sp;
  JobService js(sp, "/bin/sh", "node1");
  std::multimap<std::string, int> fds;
  // Our own pid, with a start time it does not have: the record's process is gone, the pid reused.
  const uint64_t mine = process_start_ticks("/proc", ::getpid());
  nlohmann::json saved = {{"v", 1}, {"jobs", {record_of("1.8", ::getpid(), mine + 1, status, false), nlohmann::json{{"id", 5}}}}};
  std::string line = js.adopt(saved, fds, now_s());
  CHECK(line.find("adopted 0 running job(s) and 0 running elsewhere; 1 ended while grapped was away; 1 record(s) unreadable") == 0);
  Job* j = js.table().find("1.8");
  REQUIRE(j);
  CHECK(j->pidfd < 0);  // never a handle on the process that took the pid over
  // Nor a signal by pid: the pid is this test's own, which SIGTERM would end.
  Caller root0;
  CHECK(js.kill({{"v", 1}, {"cmd", "kill"}, {"job", "1.8"}}, root0)["ok"] == true);
  js.pump(now_s());
  CHECK(j->state == JobState::Exited);
  CHECK(j->exit_code == 3);
  Caller root;
  bool attached = true;
  auto r = js.attach({{"v", 1}, {"cmd", "attach"}, {"job", "1.8"}}, root, attached);
  CHECK(r["exited"] == true);
  CHECK(r["status"] == 3);
  CHECK_FALSE(attached);
}

TEST_CASE("descriptor store: FDSTORE=1 with FDNAME and the descriptor, FDSTOREREMOVE=1 by name") {
  Scratch s;
  const std::string path = s.dir + "/notify";
  int sock = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  REQUIRE(::bind(sock, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  const char* old = std::getenv("NOTIFY_SOCKET");
  std::string saved_env = old ? old : "";
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  auto store = notify_fd_store();
  if (old) ::setenv("NOTIFY_SOCKET", saved_env.c_str(), 1);
  else ::unsetenv("NOTIFY_SOCKET");
  REQUIRE(store->enabled());
  int p[2];
  REQUIRE(::pipe(p) == 0);
  CHECK(store->keep(job_fd_name("3.4", "out"), p[0]));
  char buf[256] = {};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))];
  iovec iov{buf, sizeof buf - 1};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof ctl;
  REQUIRE(::recvmsg(sock, &m, 0) > 0);
  CHECK(std::string(buf) == "FDSTORE=1\nFDPOLL=0\nFDNAME=job.3.4.out\n");
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  REQUIRE(c);
  CHECK(c->cmsg_type == SCM_RIGHTS);
  int got = -1;
  std::memcpy(&got, CMSG_DATA(c), sizeof got);
  REQUIRE(::write(p[1], "x", 1) == 1);
  char x = 0;
  CHECK(::read(got, &x, 1) == 1);  // the same pipe
  CHECK(x == 'x');
  store->drop(job_fd_name("3.4", "out"));
  std::memset(buf, 0, sizeof buf);
  REQUIRE(::recv(sock, buf, sizeof buf - 1, 0) > 0);
  CHECK(std::string(buf) == "FDSTOREREMOVE=1\nFDNAME=job.3.4.out\n");
  for (int fd : {p[0], p[1], got, sock}) ::close(fd);
  CHECK(job_scope_unit("1.5") == "grappe-job-1.5.scope");
  CHECK(job_scope_unit("1/../x") == "grappe-job-1_.._x.scope");
}
