// The boot HTTP server's limits: the worker pool's cap and queue (boot/worker_pool.h), 300 idle
// TCP connections that do not keep a real fetch waiting (boot_http.h), and the PC side's cap on
// the admission reply it reads (initramfs fetch_to_file's max_bytes).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <doctest/doctest.h>
#include <httplib.h>

#include "boot/boot_http.h"
#include "boot/worker_pool.h"
#include "fetch.h"

using namespace grappe;
namespace fs = std::filesystem;

TEST_CASE("worker pool: a worker per task up to the cap, the rest queued in order and run later") {
  WorkerPool pool(4);
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> ran{0};
  for (int i = 0; i < 10; ++i)
    pool.enqueue([&] {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return release; });
      ++ran;
    });
  for (int i = 0; i < 200 && pool.stats().busy < 4; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto st = pool.stats();
  CHECK(st.workers == 4);  // never more than the cap
  CHECK(st.busy == 4);
  CHECK(st.queued == 6);
  {
    std::lock_guard<std::mutex> l(mu);
    release = true;
  }
  cv.notify_all();
  pool.shutdown();  // runs what is queued first
  CHECK(ran == 10);
  CHECK(pool.stats().peak_busy == 4);
  pool.enqueue([&] { ++ran; });  // after shutdown: nothing runs
  CHECK(ran == 10);
}

TEST_CASE("worker pool: idle workers are reused, not multiplied") {
  WorkerPool pool(8);
  std::atomic<int> ran{0};
  for (int i = 0; i < 50; ++i) {
    pool.enqueue([&] { ++ran; });
    for (int k = 0; k < 200 && ran <= i; ++k) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  CHECK(ran == 50);
  CHECK(pool.stats().workers <= 2);
}

TEST_CASE("boot http: 300 idle connections from one host do not keep a real fetch waiting") {
  fs::path d = fs::temp_directory_path() / ("grappe-idle-" + std::to_string(::getpid()));
  fs::create_directories(d);
  const std::string body(1 << 20, 'k');
  std::ofstream(d / "vmlinuz", std::ios::binary) << body;
  BootHttp http;
  std::string err;
  REQUIRE(http.start("127.0.0.1", 0, {{"vmlinuz", (d / "vmlinuz").string()}}, nullptr, err));
  std::vector<int> idle;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(http.port()));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < 300; ++i) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(s >= 0);
    if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) idle.push_back(s);
    else ::close(s);
  }
  CHECK(idle.size() == 300);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // accepted and holding workers
  CHECK(http.workers().workers <= kBootHttpWorkers);
  const auto t0 = std::chrono::steady_clock::now();
  httplib::Client c("127.0.0.1", http.port());
  c.set_read_timeout(20, 0);
  auto r = c.Get("/grappe/vmlinuz");
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == body);
  CHECK(took < 2.0 * kBootHttpIdleSeconds + 2);  // at most one round of idle timeouts, not 300/32 of them
  MESSAGE("real fetch behind 300 idle connections took " << took << " s");
  // The idle ones are closed by the server: a read sees EOF within the idle timeout and a bit.
  char byte;
  timeval tv{kBootHttpIdleSeconds + 3, 0};
  ::setsockopt(idle[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  CHECK(::recv(idle[0], &byte, 1, 0) == 0);
  for (int s : idle) ::close(s);
  http.stop();
  fs::remove_all(d);
}

TEST_CASE("fetch: max_bytes refuses a longer answer, announced or not") {
  httplib::Server srv;
  srv.Get("/admit", [](const httplib::Request&, httplib::Response& res) { res.set_content(std::string(5000, 'x'), "text/plain"); });
  srv.Get("/chunked", [](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/plain", [](size_t off, httplib::DataSink& sink) {
      if (off >= (1u << 20)) return sink.done(), true;
      std::string chunk(65536, 'y');
      return sink.write(chunk.data(), chunk.size());
    });
  });
  int port = srv.bind_to_any_port("127.0.0.1");
  std::thread t([&] { srv.listen_after_bind(); });
  const std::string dest = (fs::temp_directory_path() / ("grappe-cap-" + std::to_string(::getpid()))).string();
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  std::string err;
  CHECK(init::fetch_to_file(base + "/admit", dest, err, nullptr, 1024).empty());
  CHECK(err.find("longer than the 1024 bytes expected") != std::string::npos);
  err.clear();
  CHECK(init::fetch_to_file(base + "/chunked", dest, err, nullptr, 1024).empty());  // HTTP/1.0: no length, read to the cap
  CHECK(err.find("longer than the 1024 bytes expected") != std::string::npos);
  err.clear();
  CHECK_FALSE(init::fetch_to_file(base + "/admit", dest, err, nullptr, 5000).empty());  // exactly the cap: fine
  CHECK(err.empty());
  srv.stop();
  t.join();
  fs::remove(dest);
}
