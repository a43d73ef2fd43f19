// The HTTP side of the network-boot service: the files of the image this node runs (kernel,
// initrd, squashfs layers, checksums, iPXE script) under /grappe/, and scripts generated per
// request. Files are streamed in chunks straight from their file, with range requests, so many
// PCs booting at once cost no per-client copy of a 100 MB layer.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "boot/worker_pool.h"

namespace httplib {
class Server;
}

namespace grappe {

// Limits against idle or slow connections (no key is needed to open one): a worker per connection
// up to kBootHttpWorkers, then queued; a connection that has sent no request within
// kBootHttpIdleSeconds (also between keep-alive requests) is closed, as is one whose read or
// write stalls for kBootHttpStallSeconds; at most 4 requests per connection.
constexpr size_t kBootHttpWorkers = 256;
constexpr int kBootHttpIdleSeconds = 2;
constexpr int kBootHttpStallSeconds = 5;

struct BootHttpStats {
  std::atomic<uint64_t> requests{0}, bytes{0}, not_found{0};
};

class BootHttp {
 public:
  // Generated text for /grappe/NAME ("" = no such script); `mac` is the ?mac= query, if any, and
  // `host` the Host header (how the client reached this server: "10.71.0.1:8080").
  using Script = std::function<std::string(const std::string& name, const std::string& mac, const std::string& host)>;
  // GET /grappe/admit?mac=MAC&pk=HEX (boot_admit.h): HTTP status and body; `remote` is the
  // client's address, for the journal.
  using Admit = std::function<std::pair<int, std::string>(const std::string& mac, const std::string& pk,
                                                          const std::string& remote)>;
  BootHttp();
  void set_admit(Admit a) { admit_ = std::move(a); }  // before start()
  ~BootHttp();
  // Serves `files` (name -> path on this node) and `script` on `bind`:`port` (0: any free port).
  // false with `err` when the port cannot be bound.
  bool start(const std::string& bind, int port, std::map<std::string, std::string> files, Script script, std::string& err);
  void stop();
  int port() const { return port_; }
  const BootHttpStats& stats() const { return stats_; }
  WorkerPoolStats workers() const;  // zeros when not serving

 private:
  std::unique_ptr<httplib::Server> srv_;
  std::shared_ptr<WorkerPool> pool_;  // shared with the server's task queue (httplib deletes that)
  std::thread th_;
  int port_ = 0;
  BootHttpStats stats_;
  Admit admit_;
};

}  // namespace grappe
