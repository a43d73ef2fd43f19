// JobService's output coalescing: each of a job's pipes is read at most once per output_gap() —
// 50 ms when the caller's stream is a terminal, 250 ms otherwise — on a grid shared by every job,
// so chatty jobs cost grapped one wake-up per gap, not one per line or per job. A fake spawner
// hands out pipes; no process is started.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>
#include <limits>

#include <doctest/doctest.h>

#include "common/api_protocol.h"
#include "jobs/job_service.h"

using namespace grappe;

namespace {

struct PipeSpawner : Spawner {
  std::vector<int> job_out, job_err;  // the jobs' ends of their stdout and stderr pipes
  Spawned spawn(const SpawnSpec&) override {
    int o[2], e[2];
    REQUIRE(::pipe2(o, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(e, O_CLOEXEC) == 0);
    for (int fd : {o[0], e[0]}) ::fcntl(fd, F_SETFL, O_NONBLOCK);
    job_out.push_back(o[1]);
    job_err.push_back(e[1]);
    Spawned s;
    s.pid = 999999;  // no such child: never reaped
    s.out = o[0];
    s.err = e[0];
    return s;
  }
  ~PipeSpawner() {
    for (auto* v : {&job_out, &job_err})
      for (int fd : *v) ::close(fd);
  }
};

struct Service {
  PipeSpawner sp;
  JobService js{sp, "/bin/sh", "node1", "/proc"};
  std::vector<std::string> got;  // output delivered to the caller, in order, "1:" stdout "2:" stderr
  Service() {
    js.set_node_number(1);
    js.send = [this](int, const nlohmann::json& ev) {
      std::string raw;
      if (ev.value("ev", "") == "out" && b64_decode(ev.value("data", ""), raw))
        got.push_back(std::to_string(ev.value("fd", 0)) + ":" + raw);
    };
  }
  // Starts a job whose caller has a terminal on stdout and/or stderr; returns the job.
  const Job& start(bool tty_out, bool tty_err, bool detach = false) {
    Caller who;
    who.pid = ::getpid();
    who.client = 7;
    bool attached = false;
    auto r = js.run({{"v", 1}, {"cmd", "run"}, {"argv", {"job"}}, {"tty_out", tty_out}, {"tty_err", tty_err}, {"detach", detach}},
                       who, 10.0, attached);
    REQUIRE(r.value("ok", false));
    const Job* j = js.table().find(r.value("job", std::string()));
    REQUIRE(j);
    return *j;
  }
  void say(size_t job, int stream, const char* s) {
    int fd = (stream == 1 ? sp.job_out : sp.job_err).at(job);
    REQUIRE(::write(fd, s, std::strlen(s)) == static_cast<ssize_t>(std::strlen(s)));
  }
  bool polled(int fd, double now) {
    std::vector<pollfd> fds;
    js.add_pollfds(fds, now);
    for (auto& p : fds)
      if (p.fd == fd) return true;
    return false;
  }
};

}  // namespace

TEST_CASE("job output: a terminal gets it within 50 ms, one read per gap") {
  Service s;
  const Job& j = s.start(true, true);
  CHECK(output_gap(j, 1) == doctest::Approx(0.05));
  CHECK(output_gap(j, 2) == doctest::Approx(0.05));
  s.say(0, 1, "one\n");
  CHECK(s.polled(j.out, 10.01));
  s.js.pump(10.01);
  REQUIRE(s.got == std::vector<std::string>{"1:one\n"});
  s.say(0, 1, "two\n");
  s.say(0, 1, "three\n");
  CHECK_FALSE(s.polled(j.out, 10.04));  // within the gap: not even a wake-up
  s.js.pump(10.04);
  CHECK(s.got.size() == 1);
  CHECK(s.polled(j.out, 10.051));
  s.js.pump(10.051);
  CHECK(s.got == std::vector<std::string>{"1:one\n", "1:two\nthree\n"});  // both lines in one read
}

TEST_CASE("job output: each stream has its own gap: stdout to a file waits 250 ms, stderr on a terminal 50 ms") {
  Service s;
  const Job& j = s.start(/*tty_out=*/false, /*tty_err=*/true);
  CHECK(output_gap(j, 1) == doctest::Approx(0.25));
  CHECK(output_gap(j, 2) == doctest::Approx(0.05));
  s.say(0, 1, "data\n");
  s.say(0, 2, "warning\n");
  s.js.pump(10.01);
  CHECK(s.got.size() == 2);
  s.say(0, 1, "more data\n");
  s.say(0, 2, "error\n");
  CHECK(s.polled(j.err, 10.05));
  CHECK_FALSE(s.polled(j.out, 10.05));
  s.js.pump(10.05);
  CHECK(s.got.back() == "2:error\n");
  CHECK_FALSE(s.polled(j.out, 10.24));
  CHECK(s.polled(j.out, 10.25));
  s.js.pump(10.25);
  CHECK(s.got.back() == "1:more data\n");
}

TEST_CASE("job output: a file, a pipe or a detached job is read every 250 ms") {
  for (bool detach : {false, true}) {
    CAPTURE(detach);
    Service s;
    const Job& j = s.start(/*tty=*/detach, detach, detach);  // detached: no terminal, even if asked
    CHECK(output_gap(j, 1) == doctest::Approx(0.25));
    CHECK(output_gap(j, 2) == doctest::Approx(0.25));
    s.say(0, 1, "one\n");
    s.js.pump(10.01);
    s.say(0, 1, "two\n");
    CHECK_FALSE(s.polled(j.out, 10.1));
    CHECK_FALSE(s.polled(j.out, 10.24));
    CHECK(s.polled(j.out, 10.25));
    s.js.pump(10.25);
    if (!detach) CHECK(s.got == std::vector<std::string>{"1:one\n", "1:two\n"});
    else CHECK(s.got.empty());  // nobody attached: read and dropped
  }
}

TEST_CASE("job output: jobs read at different moments share the next slot, so one wake-up serves them all") {
  Service s;
  const Job& a = s.start(false, false);
  const Job& b = s.start(false, false);
  s.say(0, 1, "a\n");
  s.js.pump(10.02);
  s.say(1, 1, "b\n");
  s.js.pump(10.2);
  CHECK(s.got.size() == 2);
  s.say(0, 1, "a2\n");
  s.say(1, 1, "b2\n");
  CHECK(s.js.quiet_until(10.21) == doctest::Approx(10.25));
  CHECK_FALSE(s.polled(a.out, 10.249));
  CHECK_FALSE(s.polled(b.out, 10.249));
  CHECK(s.polled(a.out, 10.25));
  CHECK(s.polled(b.out, 10.25));
  s.js.pump(10.25);
  CHECK(s.got.size() == 4);
  CHECK(next_output_slot(10.25, 0.25) == doctest::Approx(10.5));  // read on a slot: the next one
}

TEST_CASE("job output: the first line after a quiet spell is read at once") {
  Service s;
  const Job& j = s.start(false, false);
  CHECK(s.polled(j.out, 10.0));
  s.js.pump(10.0);  // nothing to read: no gap starts
  s.say(0, 1, "late\n");
  CHECK(s.polled(j.out, 10.01));
  s.js.pump(10.01);
  CHECK(s.got == std::vector<std::string>{"1:late\n"});
}

TEST_CASE("job output: the daemon learns when the next pipe may be read (its poll timeout)") {
  Service s;
  s.start(false, false);
  CHECK(s.js.quiet_until(10.0) == std::numeric_limits<double>::infinity());  // nothing read yet
  s.say(0, 1, "one\n");
  s.js.pump(10.01);
  CHECK(s.js.quiet_until(10.1) == doctest::Approx(10.25));
  CHECK(s.js.quiet_until(10.3) == std::numeric_limits<double>::infinity());  // gap over: polled again
}

TEST_CASE("a moved job's relay thread is woken for what it carries: stdin, end of input, signals, kill, a caller gone") {
  Service s;
  const Job& started = s.start(false, false);
  Job& j = *s.js.table().find(started.id);
  j.remote = true;  // now runs elsewhere: its home relay carries the caller's input and signals
  const int wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  REQUIRE(wake >= 0);
  j.relay_wake = wake;
  auto woken = [&] {
    eventfd_t v = 0;
    return ::eventfd_read(wake, &v) == 0 && v > 0;
  };
  Caller who;
  who.pid = ::getpid();
  who.client = 7;
  who.uid = 0;
  CHECK_FALSE(woken());
  s.js.stdin_data({{"v", 1}, {"cmd", "stdin"}, {"data", b64_encode("line\n")}}, who);
  CHECK(j.in_q == "line\n");
  CHECK(woken());
  s.js.signal({{"v", 1}, {"cmd", "signal"}, {"sig", 2}}, who);
  CHECK(j.sig_q.size() == 1);
  CHECK(woken());
  s.js.stdin_eof({{"v", 1}, {"cmd", "eof"}}, who);
  CHECK(woken());
  s.js.kill({{"v", 1}, {"cmd", "kill"}, {"job", j.id}, {"sig", 15}}, who);
  CHECK(j.sig_q.size() == 2);
  CHECK(woken());
  s.js.detach(7);
  CHECK(woken());
  CHECK_FALSE(woken());  // each poke is read once
  j.relay_wake = -1;
  wake_relay(j);  // no relay thread: nothing to poke, nothing breaks
  ::close(wake);
}

TEST_CASE("job table: jobs running here exclude the home's records of moved jobs and ended ones") {
  JobTable t;
  Job a, b, c;
  a.id = "1.1", b.id = "1.2", c.id = "1.3";
  b.remote = true;
  c.state = JobState::Exited;
  t.add(a), t.add(b), t.add(c);
  CHECK(t.running() == 2);
  CHECK(t.running_here() == 1);
  t.find("1.1")->state = JobState::Exited;
  CHECK(t.running_here() == 0);
}
