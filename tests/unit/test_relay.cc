// The output relay of a moved job, both sides, over an in-memory link: the home delivers output
// in order and the exit status, forwards stdin, EOF and signals; the guest side runs a real child
// (forked here) and relays its output, stdin, signals and move requests; a malformed frame from
// either side ends that link, logged, without an exception.
#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include <doctest/doctest.h>

#include "common/api_protocol.h"
#include "jobs/job_pid.h"
#include "migration/relay.h"

using namespace grappe;

namespace {

// Both directions of one link; each side's eventfd is readable while frames wait for it.
struct Line {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Frame> q[2];
  int efd[2] = {::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
  bool closed = false;
  ~Line() {
    for (int fd : efd) ::close(fd);
  }
};

class FakeLink final : public PollLink {
 public:
  FakeLink(std::shared_ptr<Line> l, int side) : l_(std::move(l)), side_(side) {}
  ~FakeLink() override { close(); }
  void close() {
    std::lock_guard<std::mutex> g(l_->mu);
    l_->closed = true;
    for (int fd : l_->efd) ::eventfd_write(fd, 1);  // a closed link polls readable, like a socket
    l_->cv.notify_all();
  }
  bool send(const Frame& f) override {
    std::lock_guard<std::mutex> g(l_->mu);
    if (l_->closed) return false;
    l_->q[1 - side_].push_back(f);
    ::eventfd_write(l_->efd[1 - side_], 1);
    l_->cv.notify_all();
    return true;
  }
  std::optional<Frame> recv(double timeout_s) override {
    std::unique_lock<std::mutex> g(l_->mu);
    auto& q = l_->q[side_];
    l_->cv.wait_for(g, std::chrono::duration<double>(timeout_s), [&] { return l_->closed || !q.empty(); });
    if (q.empty()) return std::nullopt;
    Frame f = std::move(q.front());
    q.pop_front();
    eventfd_t v;
    if (q.empty() && !l_->closed) ::eventfd_read(l_->efd[side_], &v);
    return f;
  }
  bool readable(double timeout_s) override {
    std::unique_lock<std::mutex> g(l_->mu);
    return l_->cv.wait_for(g, std::chrono::duration<double>(timeout_s), [&] { return l_->closed || !l_->q[side_].empty(); });
  }
  bool broken() const override {
    std::lock_guard<std::mutex> g(l_->mu);
    return l_->closed;
  }
  int fd() const override { return l_->efd[side_]; }

 private:
  std::shared_ptr<Line> l_;
  int side_;
};

struct NoSpawner final : Spawner {
  Spawned spawn(const SpawnSpec&) override { return {}; }
};

// A job table, what the watching caller got, and the relay's log and replies.
struct Node {
  std::mutex mu;
  NoSpawner sp;
  JobService js{sp, "/bin/true", "node2", "/proc"};
  std::vector<std::string> events;  // "out 1 text", "exit 3"
  std::vector<std::string> logs;
  std::vector<nlohmann::json> replies;
  std::vector<MoveOrder> moves;
  std::vector<std::shared_ptr<Line>> lines;  // one per connect_home
  RelayEnv env;
  Node() {
    js.set_node_number(2);
    js.send = [this](int, const nlohmann::json& ev) {
      std::string raw;
      if (ev.value("ev", "") == "out" && b64_decode(ev.value("data", ""), raw))
        events.push_back("out " + std::to_string(ev.value("fd", 0)) + " " + raw);
      if (ev.value("ev", "") == "exit") events.push_back("exit " + std::to_string(ev.value("status", -1)));
    };
    env.mu = &mu;
    env.jobs = &js;
    env.log = [this](const std::string& s) { logs.push_back(s); };
    env.reply = [this](int, const nlohmann::json& r) { replies.push_back(r); };
    env.connect_home = [this](uint16_t, std::string&) -> std::unique_ptr<PollLink> {
      auto l = std::make_shared<Line>();
      std::lock_guard<std::mutex> g(link_mu);
      lines.push_back(l);
      link_cv.notify_all();
      return std::make_unique<FakeLink>(l, 0);
    };
    env.move = [this](const std::string&, pid_t, const MoveOrder& m) {
      moves.push_back(m);
      GuestMove g;
      g.r = stayed("the test keeps it here");
      return g;
    };
  }
  // The test's end of the n-th link the guest opened.
  FakeLink home_end(size_t n) {
    std::unique_lock<std::mutex> g(link_mu);
    link_cv.wait_for(g, std::chrono::seconds(10), [&] { return lines.size() > n; });
    REQUIRE(lines.size() > n);
    return FakeLink(lines[n], 1);
  }
  bool logged(const std::string& part) {
    std::lock_guard<std::mutex> g(mu);
    for (const auto& s : logs)
      if (s.find(part) != std::string::npos) return true;
    return false;
  }
  std::mutex link_mu;
  std::condition_variable link_cv;
};

// The home's record of job 1.5, running elsewhere in residence 1, its caller watching.
Job& remote_job(Node& n) {
  Job j;
  j.id = "1.5";
  j.argv = {"job"};
  j.remote = true;
  j.migrations = 1;
  j.out_epoch = 1;
  j.local_epoch = -1;
  j.watcher = 7;
  return n.js.table().add(std::move(j));
}

// A child that echoes a line of stdin as "got:<line>" and writes "e" to stderr, then exits 3; or,
// with `wait_signal`, waits to be killed.
Job& guest_job(Node& n, bool wait_signal) {
  int in[2], out[2], err[2];
  REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
  // SIGTERM stays blocked until the child has put back the default action: doctest's crash
  // handler, inherited, would report the test as crashed.
  sigset_t term, was;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &term, &was);
  pid_t pid = ::fork();
  if (pid != 0) ::pthread_sigmask(SIG_SETMASK, &was, nullptr);
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::signal(SIGTERM, SIG_DFL);
    ::pthread_sigmask(SIG_SETMASK, &was, nullptr);
    if (wait_signal)
      for (;;) ::pause();
    char buf[64] = "got:";
    size_t len = 4;
    while (len < sizeof buf) {
      ssize_t r = ::read(in[0], buf + len, 1);
      if (r <= 0 || buf[len++] == '\n') break;
    }
    (void)!::write(out[1], buf, len);
    (void)!::write(err[1], "e", 1);
    ::_exit(3);
  }
  ::close(in[0]), ::close(out[1]), ::close(err[1]);
  for (int fd : {in[1], out[0], err[0]}) ::fcntl(fd, F_SETFL, O_NONBLOCK);
  Job j;
  j.id = "1.6";
  j.argv = {"job"};
  j.guest = true;
  j.pid = pid;
  j.in = in[1], j.out = out[0], j.err = err[0];
  j.home_number = 1;
  j.migrations = 1;
  j.local_epoch = 1;
  return n.js.table().add(std::move(j));
}

// Frames from the guest until "exit" (or 10 s): each "out" as "out <fd> <data>", then "exit N".
std::vector<std::string> until_exit(FakeLink& home) {
  std::vector<std::string> got;
  for (auto f = home.recv(10); f; f = home.recv(10)) {
    if (f->kind == "out") got.push_back("out " + std::to_string(f->meta.value("fd", 0)) + " " + f->data);
    if (f->kind == "exit") {
      got.push_back("exit " + std::to_string(f->meta.value("status", -1)));
      home.close();  // as the home does: the guest stops waiting for it to read the status
      break;
    }
    if (f->kind == "migrated") got.push_back("migrated " + f->meta.dump());
  }
  return got;
}

// A home relay for job 1.5 (residence 1) on its own thread; `peer` is the test's end of its link,
// where the node running the job would be.
struct HomeRun {
  Node n;
  std::shared_ptr<Line> line = std::make_shared<Line>();
  FakeLink peer{line, 1};
  Relay relay{n.env};
  std::thread t;
  explicit HomeRun(const std::function<void(Job&)>& setup = nullptr) {
    Job& j = remote_job(n);
    if (setup) setup(j);
    t = std::thread([this] { relay.home(std::make_unique<FakeLink>(line, 0), {"relay", {{"id", "1.5"}, {"epoch", 1}}, {}}); });
  }
  ~HomeRun() {
    if (t.joinable()) t.join();
  }
};

}  // namespace

TEST_CASE("relay, home side: output delivered in order, then the exit status; the job ends") {
  HomeRun h;
  h.peer.send({"out", {{"fd", 1}}, "one "});
  h.peer.send({"out", {{"fd", 2}}, "warn "});
  h.peer.send({"out", {{"fd", 1}}, "two"});
  h.peer.send({"exit", {{"status", 3}}, {}});
  h.t.join();
  Node& n = h.n;
  CHECK(n.events == std::vector<std::string>{"out 1 one ", "out 2 warn ", "out 1 two", "exit 3"});
  CHECK(n.js.table().find("1.5")->state == JobState::Exited);
  CHECK(n.js.table().find("1.5")->exit_code == 3);
}

TEST_CASE("relay, home side: stdin, EOF and signals queued here go to the node running the job") {
  HomeRun h([](Job& j) {
    j.in_q = "input\n";
    j.in_eof = true;
    j.sig_q = {SIGTERM};
  });
  auto r = h.peer.recv(5), a = h.peer.recv(5), b = h.peer.recv(5), c = h.peer.recv(5);
  REQUIRE((r && a && b && c));
  CHECK(r->kind == "resume");
  CHECK(r->meta == nlohmann::json{{"off", {0, 0}}});
  CHECK(a->kind == "stdin");
  CHECK(a->data == "input\n");
  CHECK(b->kind == "eof");
  CHECK(c->kind == "signal");
  CHECK(c->meta.value("sig", 0) == SIGTERM);
  h.peer.send({"exit", {{"status", 0}}, {}});
}

TEST_CASE("relay, home side: a malformed frame ends the relay, logged, and the job waits for a reconnect") {
  for (const nlohmann::json& bad : {nlohmann::json{{"fd", "1"}}, nlohmann::json{{"fd", 9}}, nlohmann::json("x")}) {
    HomeRun h;
    h.peer.send({"out", bad, "text"});
    h.t.join();
    CHECK(h.n.events.empty());
    CHECK(h.n.logged("malformed 'out' frame"));
    CHECK(h.n.js.table().find("1.5")->state == JobState::Running);
  }
  Node n;
  remote_job(n);
  Relay relay(n.env);
  relay.home(std::make_unique<FakeLink>(std::make_shared<Line>(), 0), {"relay", {{"id", 15}, {"epoch", "1"}}, {}});
  CHECK(n.logged("relay refused: relay: \"id\" must be a string"));
}

TEST_CASE("relay, guest side: stdin reaches the job, its output and exit status go home") {
  Node n;
  guest_job(n, false);
  Relay relay(n.env);
  std::thread t([&] { relay.guest("1.6"); });
  FakeLink home = n.home_end(0);
  auto hello = home.recv(10);
  REQUIRE(hello);
  CHECK(hello->kind == "relay");
  CHECK(hello->meta == nlohmann::json{{"id", "1.6"}, {"epoch", 1}, {"off", {0, 0}}});
  home.send({"resume", {{"off", {0, 0}}}, {}});
  home.send({"stdin", {}, "hi\n"});
  home.send({"eof", {}, {}});
  auto got = until_exit(home);
  t.join();
  std::string out, err;
  for (const auto& g : got) {
    if (g.rfind("out 1 ", 0) == 0) out += g.substr(6);
    if (g.rfind("out 2 ", 0) == 0) err += g.substr(6);
  }
  CHECK(out == "got:hi\n");
  CHECK(err == "e");
  REQUIRE(!got.empty());
  CHECK(got.back() == "exit 3");
  CHECK(n.js.table().find("1.6")->state == JobState::Exited);
}

TEST_CASE("relay, guest side: a move request is answered home; a signal from home ends the job") {
  Node n;
  guest_job(n, true);
  Relay relay(n.env);
  std::thread t([&] { relay.guest("1.6"); });
  FakeLink home = n.home_end(0);
  REQUIRE(home.recv(10));
  home.send({"resume", {{"off", {0, 0}}}, {}});
  home.send({"migrate", {{"to", "node3"}, {"client", 5}, {"reason", "test"}, {"precopy", 0}}, {}});
  home.send({"signal", {{"sig", SIGTERM}}, {}});
  auto got = until_exit(home);
  t.join();
  REQUIRE(n.moves.size() == 1);
  CHECK(n.moves[0].to == "node3");
  CHECK(n.moves[0].precopy == 0);
  REQUIRE(got.size() == 2);
  CHECK(got[0].find("\"client\":5") != std::string::npos);
  CHECK(got[0].find("the test keeps it here") != std::string::npos);
  CHECK(got[1] == "exit " + std::to_string(128 + SIGTERM));
}

TEST_CASE("relay, guest side: a malformed frame from home drops that link; the relay reconnects") {
  Node n;
  guest_job(n, true);
  Relay relay(n.env);
  std::thread t([&] { relay.guest("1.6"); });
  FakeLink first = n.home_end(0);
  REQUIRE(first.recv(10));
  first.send({"signal", {{"sig", "TERM"}}, {}});
  FakeLink second = n.home_end(1);  // after the 2 s between attempts
  auto hello = second.recv(10);
  REQUIRE(hello);
  CHECK(hello->kind == "relay");
  CHECK(n.logged("malformed 'signal' frame from its home node"));
  second.send({"resume", {{"off", {0, 0}}}, {}});
  second.send({"signal", {{"sig", SIGKILL}}, {}});
  auto got = until_exit(second);
  t.join();
  REQUIRE(!got.empty());
  CHECK(got.back() == "exit " + std::to_string(128 + SIGKILL));
}

namespace {

// A guest child that prints lines "0\n" .. "<n-1>\n" to stdout as fast as the pipe takes them,
// then exits 0.
Job& counting_guest(Node& n, int lines, bool adopted = false) {
  int out[2], err[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    for (int i = 0; i < lines; ++i) {
      std::string l = std::to_string(i) + "\n";
      if (::write(out[1], l.data(), l.size()) < 0) ::_exit(1);
    }
    ::_exit(0);
  }
  ::close(out[1]), ::close(err[1]);
  for (int fd : {out[0], err[0]}) ::fcntl(fd, F_SETFL, O_NONBLOCK);
  Job j;
  j.id = "1.7";
  j.argv = {"count"};
  j.guest = true;
  j.pid = pid;
  j.out = out[0], j.err = err[0];
  j.in_eof = true;
  j.home_number = 1;
  j.migrations = 1;
  j.local_epoch = 1;
  j.adopted = adopted;
  return n.js.table().add(std::move(j));
}

// Stdout bytes in the "out" frames on `home` until "exit" (closing the link then) or `cut` bytes.
std::string stdout_until(FakeLink& home, size_t cut, bool& exited) {
  std::string got;
  exited = false;
  for (auto f = home.recv(10); f; f = home.recv(10)) {
    if (f->kind == "out" && f->meta.value("fd", 0) == 1) got += f->data;
    if (f->kind == "exit") {
      exited = true;
      home.close();
      break;
    }
    if (got.size() >= cut) break;
  }
  return got;
}

std::string numbers(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += std::to_string(i) + "\n";
  return s;
}

}  // namespace

TEST_CASE("relay, guest side: a link that breaks mid-stream loses and repeats nothing: the home's resume says what it has") {
  Node n;
  counting_guest(n, 20000);
  Relay relay(n.env);
  std::thread t([&] { relay.guest("1.7"); });
  bool exited = false;
  FakeLink first = n.home_end(0);
  REQUIRE(first.recv(10));  // hello
  first.send({"resume", {{"off", {0, 0}}}, {}});
  std::string got = stdout_until(first, 5000, exited);
  REQUIRE_FALSE(exited);
  // The home kept only part of what was sent (the rest was in flight when the link broke).
  got.resize(3001);
  first.close();
  FakeLink second = n.home_end(1);
  auto hello = second.recv(10);
  REQUIRE(hello);
  CHECK(hello->meta["off"][0].get<int64_t>() >= 5000);  // what it sent on the first link
  second.send({"resume", {{"off", {3001, 0}}}, {}});
  got += stdout_until(second, SIZE_MAX, exited);
  t.join();
  CHECK(exited);
  CHECK(got == numbers(20000));
}

TEST_CASE("relay, guest side: adopted after a restart, it takes the home's count and reads the status its init wrote") {
  Node n;
  Job& j = counting_guest(n, 300, true);
  const std::string status = (std::filesystem::temp_directory_path() / ("grappe-relay-status-" + std::to_string(::getpid()))).string();
  std::ofstream(status) << "7\n";  // what grappe-job-init writes; the child here exits 0
  j.status_file = status;
  j.pidfd = pidfd_of(j.pid);
  const pid_t pid = j.pid;
  Relay relay(n.env);
  std::thread t([&] { relay.guest("1.7"); });
  FakeLink home = n.home_end(0);
  auto hello = home.recv(10);
  REQUIRE(hello);
  CHECK(hello->meta["off"] == nlohmann::json{-1, -1});  // it does not know what the last grapped sent
  home.send({"resume", {{"off", {120, 0}}}, {}});
  bool exited = false;
  std::string got = stdout_until(home, SIZE_MAX, exited);
  t.join();
  ::waitpid(pid, nullptr, 0);
  std::filesystem::remove(status);
  CHECK(exited);
  CHECK(got == numbers(300));  // the pipe still held it all: the home's 120 is only where it counts from
  CHECK(n.js.table().find("1.7")->exit_code == 7);
}

TEST_CASE("relay, home side: resume says how much of this residence the home has; after a restart it waits for the caller") {
  {
    HomeRun h([](Job& j) {
      j.sent[1] = 1000, j.epoch_base[1] = 400;  // 600 bytes of this residence delivered
      j.sent[2] = 30, j.epoch_base[2] = 30;
    });
    auto r = h.peer.recv(5);
    REQUIRE(r);
    CHECK(r->kind == "resume");
    CHECK(r->meta == nlohmann::json{{"off", {600, 0}}});
    h.peer.send({"exit", {{"status", 0}}, {}});
  }
  {
    HomeRun h([](Job& j) {  // adopted: the caller has not said what it has yet
      j.adopted = true;
      j.sent_known = false;
      j.awaiting_caller = true;
      j.watcher = -1;
      j.epoch_base[1] = 50;
    });
    CHECK_FALSE(h.peer.readable(0.5));  // no resume before the caller is back
    {
      std::lock_guard<std::mutex> l(h.n.mu);
      bool attached = false;
      Caller who;
      who.client = 9;
      auto rep = h.n.js.attach({{"job", "1.5"}, {"off", {80, 3}}}, who, attached);
      CHECK(rep["ok"] == true);
    }
    auto r = h.peer.recv(5);
    REQUIRE(r);
    CHECK(r->meta == nlohmann::json{{"off", {30, 3}}});
    h.peer.send({"exit", {{"status", 0}}, {}});
  }
  {
    HomeRun h([](Job& j) {  // adopted, detached: nobody can say
      j.adopted = true;
      j.sent_known = false;
      j.watcher = -1;
    });
    auto r = h.peer.recv(5);
    REQUIRE(r);
    CHECK(r->meta == nlohmann::json{{"off", {-1, -1}}});
    h.peer.send({"exit", {{"status", 0}}, {}});
  }
}
