#include "boot/boot_http.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <httplib.h>

#include <chrono>
#include <type_traits>
#include <utility>

namespace grappe {
namespace {

bool safe_mac(const std::string& m) {
  return m.size() <= 17 && m.find_first_not_of("0123456789abcdefABCDEF:-") == std::string::npos;
}
bool safe_host(const std::string& h) {
  return !h.empty() && h.size() <= 64 &&
         h.find_first_not_of("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.:-[]") == std::string::npos;
}

// TaskQueue::enqueue returns void in cpp-httplib 0.11 (Debian 12, the build host) and bool
// (false: queue full, connection dropped) in later ones (trixie, the image's SDK).
using EnqueueResult = decltype(std::declval<httplib::TaskQueue&>().enqueue(std::function<void()>{}));

template <class R>
R queued() {
  if constexpr (std::is_same_v<R, bool>) return true;
}

// httplib's task queue over the pool, which BootHttp keeps too for its counts.
class PoolQueue : public httplib::TaskQueue {
 public:
  explicit PoolQueue(std::shared_ptr<WorkerPool> pool) : pool_(std::move(pool)) {}
  EnqueueResult enqueue(std::function<void()> fn) override {
    pool_->enqueue(std::move(fn));
    return queued<EnqueueResult>();  // the pool queues it (workers capped)
  }
  void shutdown() override { pool_->shutdown(); }

 private:
  std::shared_ptr<WorkerPool> pool_;
};

}  // namespace

WorkerPoolStats BootHttp::workers() const { return pool_ ? pool_->stats() : WorkerPoolStats{}; }

BootHttp::BootHttp() = default;
BootHttp::~BootHttp() { stop(); }

bool BootHttp::start(const std::string& bind, int port, std::map<std::string, std::string> files, Script script,
                     std::string& err) {
  stop();
  srv_ = std::make_unique<httplib::Server>();
  // Every PC of a room may boot at once, and idle connections must not hold the workers a real
  // fetch needs: a worker per connection up to the cap, each idle one closed within seconds.
  pool_ = std::make_shared<WorkerPool>(kBootHttpWorkers);
  srv_->new_task_queue = [pool = pool_] { return new PoolQueue(pool); };
  srv_->set_keep_alive_max_count(4);
  srv_->set_keep_alive_timeout(kBootHttpIdleSeconds);
  srv_->set_read_timeout(kBootHttpStallSeconds, 0);
  srv_->set_write_timeout(kBootHttpStallSeconds, 0);
  if (admit_)
    srv_->Get("/grappe/admit", [this](const httplib::Request& req, httplib::Response& res) {
      ++stats_.requests;
      const std::string mac = req.get_param_value("mac"), pk = req.get_param_value("pk");
      auto [status, body] = safe_mac(mac) && pk.size() <= 64
                                ? admit_(mac, pk, req.remote_addr)
                                : std::pair<int, std::string>{400, "admit needs ?mac=MAC&pk=64 hex digits\n"};
      res.status = status;
      res.set_content(body, "text/plain");
    });
  srv_->Get(R"(/grappe/([A-Za-z0-9._-]{1,64}))", [this, files = std::move(files), script = std::move(script)](
                                                   const httplib::Request& req, httplib::Response& res) {
    ++stats_.requests;
    const std::string name = req.matches[1];
    auto it = files.find(name);
    if (it == files.end()) {
      std::string mac = req.get_param_value("mac"), host = req.get_header_value("Host");
      std::string text = script && safe_mac(mac) && safe_host(host) ? script(name, mac, host) : "";
      if (text.empty()) {
        ++stats_.not_found;
        res.status = 404;
        res.set_content("no " + name + " here\n", "text/plain");
        return;
      }
      stats_.bytes += text.size();
      res.set_content(text, "text/plain");
      return;
    }
    int fd = ::open(it->second.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st{};
    if (fd < 0 || ::fstat(fd, &st) != 0) {
      if (fd >= 0) ::close(fd);
      ++stats_.not_found;
      res.status = 404;
      res.set_content("cannot read " + name + " on this node\n", "text/plain");
      return;
    }
    auto shared = std::make_shared<int>(fd);
    res.set_content_provider(
        static_cast<size_t>(st.st_size), "application/octet-stream",
        [this, shared](size_t offset, size_t length, httplib::DataSink& sink) {
          char buf[1 << 16];
          size_t n = std::min(length, sizeof buf);
          ssize_t got = ::pread(*shared, buf, n, static_cast<off_t>(offset));
          if (got <= 0) return false;  // the file shrank or failed: the client sees a short body
          stats_.bytes += static_cast<uint64_t>(got);
          return sink.write(buf, static_cast<size_t>(got));
        },
        [shared](bool) { ::close(*shared); });
  });
  port_ = port ? (srv_->bind_to_port(bind.c_str(), port) ? port : -1) : srv_->bind_to_any_port(bind.c_str());
  if (port_ <= 0) {
    err = "cannot listen on " + bind + ":" + std::to_string(port) + " for HTTP (another web server on this node?)";
    srv_.reset();
    pool_.reset();
    port_ = 0;
    return false;
  }
  th_ = std::thread([this] { srv_->listen_after_bind(); });
  // stop() only stops a server that is already listening: do not return before it is.
  for (int i = 0; i < 2000 && !srv_->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return true;
}

void BootHttp::stop() {
  if (srv_) srv_->stop();
  if (th_.joinable()) th_.join();
  srv_.reset();
  pool_.reset();
  port_ = 0;
}

}  // namespace grappe
