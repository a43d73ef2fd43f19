#include "dashboard/dashboard_http.h"

#include <httplib.h>

#include <chrono>
#include <type_traits>
#include <fstream>
#include <sstream>

#include "common/mono_clock.h"

namespace grappe {
namespace {

constexpr size_t kWorkers = EventHub::kMaxClients + 16;  // every watcher holds one while it watches
constexpr size_t kQueued = 64;  // connections waiting for a worker; more are closed at once
constexpr size_t kMaxBody = 16 * 1024;

// A pool whose queue is bounded where cpp-httplib can (0.18, the image's; 0.11 on a Debian 12 build
// host, where only the tests run it, has no such bound).
template <class Pool>
Pool* bounded_pool(size_t workers, size_t queued) {
  if constexpr (std::is_constructible_v<Pool, size_t, size_t>) return new Pool(workers, queued);
  else return new Pool(workers);
}


std::string node_text(const nlohmann::json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

void secure(httplib::Response& res) {
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Content-Security-Policy",
                 "default-src 'self'; connect-src 'self' http:; img-src 'self' data:; frame-ancestors 'none'");
}

void json_reply(httplib::Response& res, int status, const nlohmann::json& body) {
  secure(res);
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

const char* content_type(const std::string& name) {
  auto ends = [&](const char* e) { return name.size() > std::strlen(e) && name.compare(name.size() - std::strlen(e), std::string::npos, e) == 0; };
  if (ends(".js")) return "text/javascript";
  if (ends(".css")) return "text/css";
  if (ends(".svg")) return "image/svg+xml";
  return "text/html; charset=utf-8";
}

}  // namespace

DashboardHttp::DashboardHttp(std::string assets_dir, Act act) : assets_(std::move(assets_dir)), act_(std::move(act)) {}
DashboardHttp::~DashboardHttp() { stop(); }

std::string DashboardHttp::state_text() const {
  std::lock_guard<std::mutex> l(mu_);
  return state_;
}

void DashboardHttp::tick(double wall, const nlohmann::json& nodes, const nlohmann::json& jobs) {
  nlohmann::json state = {{"t", wall}, {"nodes", nodes}, {"jobs", jobs}};
  const std::string text = state.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  {
    std::lock_guard<std::mutex> l(mu_);
    state_ = text;
    if (nodes.is_array())
      for (const auto& n : nodes) {
        if (!n.is_object() || !n.contains("load") || node_text(n, "state") != "alive") continue;
        const std::string name = node_text(n, "name");
        const double load = n["load"].is_number() ? n["load"].get<double>() : 0;
        const auto total = n.value("mem_total_mb", 0u), free = n.value("mem_free_mb", 0u);
        history_.add(name, {wall, static_cast<float>(load), total > free ? total - free : 0});
      }
    history_.expire(wall);
    origins_.clear();
    if (nodes.is_array())
      for (const auto& n : nodes) {
        const std::string addr = n.is_object() ? node_text(n, "address") : "";
        if (!addr.empty() && addr != "self" && addr != "-") origins_.insert("http://" + addr + ":" + std::to_string(port_));
      }
  }
  hub_.publish("state", text);
}

void DashboardHttp::event(const std::string& type, const nlohmann::json& what) {
  hub_.publish(type, what.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

std::string DashboardHttp::token(uid_t uid, double now) {
  std::lock_guard<std::mutex> l(mu_);
  return sessions_.issue(static_cast<uint32_t>(uid), now);
}

void DashboardHttp::routes() {
  auto file = [this](const std::string& name, httplib::Response& res) {
    std::ifstream in(assets_ + "/" + name, std::ios::binary);
    secure(res);
    if (!in) {
      res.status = 404;
      res.set_content("the dashboard's " + name + " is not installed on this node (" + assets_ + ")\n", "text/plain");
      return;
    }
    std::ostringstream s;
    s << in.rdbuf();
    res.set_header("Cache-Control", "no-cache");
    res.set_content(s.str(), content_type(name));
  };
  srv_->Get("/", [file](const httplib::Request&, httplib::Response& res) { file("index.html", res); });
  srv_->Get(R"(/assets/([a-z0-9-]{1,40}\.(js|css|svg)))",
            [file](const httplib::Request& req, httplib::Response& res) { file(req.matches[1], res); });
  srv_->Get("/api/state", [this](const httplib::Request& req, httplib::Response& res) {
    last_pull_ = now_s();
    secure(res);
    // Another member's page reads this node's jobs; no other site may.
    const std::string origin = req.get_header_value("Origin");
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!origin.empty() && origins_.count(origin)) res.set_header("Access-Control-Allow-Origin", origin);
    }
    res.set_header("Vary", "Origin");
    res.set_content(state_text(), "application/json");
  });
  srv_->Get("/api/history", [this](const httplib::Request& req, httplib::Response& res) {
    double since = 0;
    if (req.has_param("since")) since = std::strtod(req.get_param_value("since").c_str(), nullptr);
    // One at a time, and the JSON built from a copy: the loop's tick() waits for mu_ only as long
    // as the copy takes, however many browsers ask.
    std::lock_guard<std::mutex> one(history_req_mu_);
    LoadHistory copy;
    {
      std::lock_guard<std::mutex> l(mu_);
      copy = history_;
    }
    json_reply(res, 200, copy.to_json(since));
  });
  srv_->Get("/api/events", [this](const httplib::Request&, httplib::Response& res) {
    const uint64_t id = hub_.subscribe();
    if (!id) return json_reply(res, 503, {{"error", "too many browsers watch this node; try another node"}});
    secure(res);
    res.set_header("Cache-Control", "no-cache");
    auto first = std::make_shared<std::string>(sse_frame("state", state_text()));
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, id, first](size_t, httplib::DataSink& sink) {
          if (!first->empty()) {
            std::string f;
            f.swap(*first);
            return sink.write(f.data(), f.size());
          }
          std::optional<std::string> s = hub_.take(id, std::chrono::seconds(15));
          if (!s) {  // dropped: too slow; the page reconnects
            sink.done();
            return true;
          }
          if (s->empty()) *s = ": keep-alive\n\n";
          return sink.write(s->data(), s->size());
        },
        [this, id](bool) { hub_.unsubscribe(id); });
  });
  srv_->Post("/api/session", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string origin = req.get_header_value("Origin"), host = req.get_header_value("Host");
    if (!origin.empty() && origin != "http://" + host)
      return json_reply(res, 403, {{"error", "a session starts from this node's own page only"}});
    nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
    const std::string token = body.is_object() ? node_text(body, "token") : "";
    std::optional<DashboardSessions::Session> s;
    {
      std::lock_guard<std::mutex> l(mu_);
      s = sessions_.redeem(token, now_s());
    }
    if (!s) return json_reply(res, 403, {{"error", "this link was used or is older than 5 minutes: run grappe dashboard again"}});
    res.set_header("Set-Cookie", "grappe_session=" + s->id + "; Path=/; HttpOnly; SameSite=Strict");
    json_reply(res, 200, {{"csrf", s->csrf}, {"uid", s->uid}});
  });
  srv_->Post("/api/action", [this](const httplib::Request& req, httplib::Response& res) {
    // A browser names the page's origin: only this node's own page may act.
    const std::string origin = req.get_header_value("Origin"), host = req.get_header_value("Host");
    if (!origin.empty() && origin != "http://" + host)
      return json_reply(res, 403, {{"error", "actions come from this node's own page only"}});
    std::optional<uint32_t> uid;
    {
      std::lock_guard<std::mutex> l(mu_);
      uid = sessions_.check(session_cookie(req.get_header_value("Cookie")), req.get_header_value("X-Grappe-CSRF"), now_s());
    }
    if (!uid) return json_reply(res, 403, {{"error", "no session: run grappe dashboard on this node and open the link it prints"}});
    const DashboardAction a = dashboard_action(nlohmann::json::parse(req.body, nullptr, false));
    if (!a.error.empty()) return json_reply(res, 400, {{"error", a.error}});
    nlohmann::json reply = act_ ? act_(a.request, static_cast<uid_t>(*uid)) : nlohmann::json{{"ok", false}, {"error", "no daemon"}};
    if (reply.is_null()) reply = {{"ok", true}, {"note", "under way: the monitor shows it"}};
    json_reply(res, reply.value("ok", false) ? 200 : 409, reply);
  });
}

bool DashboardHttp::start(const std::string& bind, int port, std::string& err) {
  stop();
  hub_.reopen();
  srv_ = std::make_unique<httplib::Server>();
  srv_->new_task_queue = [] { return bounded_pool<httplib::ThreadPool>(kWorkers, kQueued); };
  srv_->set_payload_max_length(kMaxBody);
  srv_->set_keep_alive_timeout(5);
  srv_->set_read_timeout(5, 0);
  srv_->set_write_timeout(5, 0);  // a browser that stops reading its stream is cut
  routes();
  port_ = port ? (srv_->bind_to_port(bind.c_str(), port) ? port : -1) : srv_->bind_to_any_port(bind.c_str());
  if (port_ <= 0) {
    err = "cannot listen on " + bind + ":" + std::to_string(port) + " for the dashboard (another program on that port?)";
    srv_.reset();
    port_ = 0;
    return false;
  }
  th_ = std::thread([this] { srv_->listen_after_bind(); });
  for (int i = 0; i < 2000 && !srv_->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return true;
}

void DashboardHttp::stop() {
  hub_.close_all();  // the streams' workers return at once
  if (srv_) srv_->stop();
  if (th_.joinable()) th_.join();
  srv_.reset();
  port_ = 0;
}

}  // namespace grappe
