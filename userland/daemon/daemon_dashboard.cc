// grapped's side of the web dashboard (dashboard/dashboard_http.h): started when [dashboard] port
// is set, fed once a second from the loop (the nodes reply and every job, as `grappe nodes` and
// `grappe ps --all` show them), told of each move out of this node, and acting through the local
// API's router as the session's user.
#include <pwd.h>

#include <chrono>
#include <vector>

#include "daemon/daemon.h"

namespace grappe {

void Daemon::start_dashboard() {
  if (!cfg_.dashboard_port) return;
  dash_ = std::make_unique<DashboardHttp>(cfg_.dashboard_assets, [this](const nlohmann::json& req, uid_t uid) {
    Caller who;
    who.uid = uid, who.gid = uid, who.pid = 0, who.client = -1;  // no connection: a late answer goes to the monitor
    std::vector<char> buf(16384);
    passwd pw{}, *found = nullptr;
    if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found) who.gid = pw.pw_gid;
    std::lock_guard<std::mutex> lock(mu_);
    ApiReply r = router_.route(req.dump(), who, now_s());
    return r.body;
  });
  std::string err;
  if (!dash_->start("0.0.0.0", cfg_.dashboard_port, err)) {
    std::fprintf(stderr, "grapped: no dashboard: %s\n", err.c_str());
    dash_.reset();
    return;
  }
  std::fprintf(stderr, "grapped: dashboard on http://<this node>:%u/ (grappe dashboard prints a link to act from it)\n",
               static_cast<unsigned>(cfg_.dashboard_port));
}

void Daemon::feed_dashboard(double now) {
  if (!dash_ || now < next_dash_) return;
  next_dash_ = next_due(next_dash_, now, 1.0);
  nlohmann::json nodes = nodes_reply(mb_, now)["nodes"];
  Caller root;
  nlohmann::json jobs = dash_->watched(now) ? jobs_.ps({{"v", 1}, {"cmd", "ps"}, {"all", true}}, root, now)["jobs"]
                                            : nlohmann::json::array();
  // The command line, shortened; not argv (the same again): the state stays small.
  for (auto& j : jobs) {
    j.erase("argv");
    if (auto c = j.find("command"); c != j.end() && c->is_string() && c->get<std::string>().size() > 120)
      *c = c->get<std::string>().substr(0, 117) + "...";
  }
  const double wall = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  dash_->tick(wall, nodes, jobs);
}

nlohmann::json Daemon::dashboard_token(const Caller& who) {
  if (!dash_)
    return api_error(cfg_.dashboard_port ? "the dashboard could not start on this node (grapped's journal says why)"
                                         : "the dashboard is off on this node ([dashboard] port in /etc/grappe/grapped.toml)");
  const std::string token = dash_->token(who.uid, now_s());
  if (token.empty()) return api_error("dashboard: no random bytes for a token");
  return {{"v", 1}, {"ok", true}, {"token", token}, {"port", cfg_.dashboard_port}, {"valid_s", 300}, {"uid", who.uid}};
}

}  // namespace grappe
