// The dashboard's web server (#27), in grapped: the page and its assets, the cluster's state as
// JSON, the load history, the live event stream, and actions. Viewing is open to the cluster's
// network; an action needs a session (sessions.h) and goes through the local API's own router as
// that user (the daemon's `act`), so the browser can do nothing the user's `grappe` could not.
// The daemon feeds it once a second (tick) and on each migration (event).
#pragma once
#include <sys/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "dashboard/event_hub.h"
#include "dashboard/load_history.h"
#include "dashboard/dashboard_request.h"
#include "dashboard/sessions.h"

namespace httplib {
class Server;
}

namespace grappe {

constexpr int kDashboardPort = 7480;

class DashboardHttp {
 public:
  // Runs a checked local API request as user `uid` (the daemon locks its loop and routes it).
  using Act = std::function<nlohmann::json(const nlohmann::json& request, uid_t uid)>;

  explicit DashboardHttp(std::string assets_dir, Act act);
  ~DashboardHttp();
  // Listens on bind:port (0: any free port); false with `err` when it cannot.
  bool start(const std::string& bind, int port, std::string& err);
  void stop();
  int port() const { return port_; }

  // Once a second: the cluster's state (the nodes reply and the jobs), at wall-clock time `wall`.
  // Samples the history and sends the state to every watching browser.
  void tick(double wall, const nlohmann::json& nodes, const nlohmann::json& jobs);
  // Something happened (a migration: {"job", "from", "to", "freeze_s", "why"}): drawn at once.
  void event(const std::string& type, const nlohmann::json& what);
  // `grappe dashboard`: a one-time token for user `uid`.
  std::string token(uid_t uid, double now);

  size_t watchers() const { return hub_.clients(); }
  // Whether a browser looks (a stream open, or the state fetched in the last 5 s): the job list,
  // which costs a /proc scan per job, is gathered only then.
  bool watched(double now) const { return watchers() > 0 || now - last_pull_.load() < 5; }

 private:
  void routes();
  std::string state_text() const;

  std::string assets_;
  Act act_;
  std::unique_ptr<httplib::Server> srv_;
  std::thread th_;
  int port_ = 0;
  mutable std::mutex mu_;  // history_, sessions_, state_, origins_
  std::mutex history_req_mu_;  // one history request at a time
  std::set<std::string> origins_;  // the members' dashboards ("http://ADDR:PORT"): may read /api/state
  LoadHistory history_;
  DashboardSessions sessions_;
  std::string state_ = "{}";
  EventHub hub_;
  std::atomic<double> last_pull_{-1e9};  // now_s() of the last GET /api/state
};

}  // namespace grappe
