// JobService's output coalescing: a job's pipes are read at most once per output_gap() — 40 ms
// when its caller's output is a terminal, 250 ms otherwise — so a chatty job does not cost
// grapped a wake-up per line. A fake spawner hands out pipes; no process is started.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <limits>

#include <doctest/doctest.h>

#include "job_service.h"

using namespace grappe;

namespace {

struct PipeSpawner : Spawner {
  int job_out = -1;  // the job's end of its stdout pipe
  Spawned spawn(const SpawnSpec&) override {
    int o[2], e[2];
    REQUIRE(::pipe2(o, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(e, O_CLOEXEC) == 0);
    for (int fd : {o[0], e[0]}) ::fcntl(fd, F_SETFL, O_NONBLOCK);
    ::close(e[1]);
    job_out = o[1];
    Spawned s;
    s.pid = 999999;  // no such child: never reaped
    s.out = o[0];
    s.err = e[0];
    return s;
  }
};

struct Service {
  PipeSpawner sp;
  JobService js{sp, "/bin/sh", "node1", "/proc"};
  std::vector<std::string> got;  // output delivered to the caller, in order
  Service() {
    js.set_node_number(1);
    js.send = [this](int, const nlohmann::json& ev) {
      std::string raw;
      if (ev.value("ev", "") == "out" && b64_decode(ev.value("data", ""), raw)) got.push_back(raw);
    };
  }
  int start(bool tty, bool detach = false) {
    Caller who;
    who.pid = ::getpid();
    who.client = 7;
    bool attached = false;
    auto r = js.handle({{"v", 1}, {"cmd", "run"}, {"argv", {"job"}}, {"tty", tty}, {"detach", detach}}, who, 10.0, attached);
    REQUIRE(r.value("ok", false));
    return js.table().all().begin()->second.out;
  }
  void say(const char* s) { REQUIRE(::write(sp.job_out, s, std::strlen(s)) == static_cast<ssize_t>(std::strlen(s))); }
  bool polled(int fd, double now) {
    std::vector<pollfd> fds;
    js.add_pollfds(fds, now);
    for (auto& p : fds)
      if (p.fd == fd) return true;
    return false;
  }
};

}  // namespace

TEST_CASE("job output: a terminal gets it within 40 ms, one read per gap") {
  Service s;
  int fd = s.start(true);
  CHECK(output_gap(s.js.table().all().begin()->second) == doctest::Approx(0.04));
  s.say("one\n");
  CHECK(s.polled(fd, 10.0));
  s.js.pump(10.0);
  REQUIRE(s.got == std::vector<std::string>{"one\n"});
  s.say("two\n");
  s.say("three\n");
  CHECK_FALSE(s.polled(fd, 10.03));  // within the gap: not even a wake-up
  s.js.pump(10.03);
  CHECK(s.got.size() == 1);
  CHECK(s.polled(fd, 10.041));
  s.js.pump(10.041);
  CHECK(s.got == std::vector<std::string>{"one\n", "two\nthree\n"});  // both lines in one read
  ::close(s.sp.job_out);
}

TEST_CASE("job output: a file, a pipe or a detached job is read every 250 ms") {
  for (bool detach : {false, true}) {
    CAPTURE(detach);
    Service s;
    int fd = s.start(/*tty=*/!detach ? false : true, detach);  // detached: no terminal, even if asked
    CHECK(output_gap(s.js.table().all().begin()->second) == doctest::Approx(0.25));
    s.say("one\n");
    s.js.pump(10.0);
    s.say("two\n");
    CHECK_FALSE(s.polled(fd, 10.1));
    CHECK_FALSE(s.polled(fd, 10.24));
    CHECK(s.polled(fd, 10.25));
    s.js.pump(10.25);
    if (!detach) CHECK(s.got == std::vector<std::string>{"one\n", "two\n"});
    else CHECK(s.got.empty());  // nobody attached: read and dropped
    ::close(s.sp.job_out);
  }
}

TEST_CASE("job output: the first line after a quiet spell is read at once") {
  Service s;
  int fd = s.start(false);
  CHECK(s.polled(fd, 10.0));
  s.js.pump(10.0);  // nothing to read: no gap starts
  s.say("late\n");
  CHECK(s.polled(fd, 10.01));
  s.js.pump(10.01);
  CHECK(s.got == std::vector<std::string>{"late\n"});
  ::close(s.sp.job_out);
}

TEST_CASE("job output: the daemon learns when the next pipe may be read (its poll timeout)") {
  Service s;
  s.start(false);
  CHECK(s.js.quiet_until(10.0) == std::numeric_limits<double>::infinity());  // nothing read yet
  s.say("one\n");
  s.js.pump(10.0);
  CHECK(s.js.quiet_until(10.1) == doctest::Approx(10.25));
  CHECK(s.js.quiet_until(10.3) == std::numeric_limits<double>::infinity());  // gap over: polled again
  ::close(s.sp.job_out);
}
