// The dashboard's core (#27): the load history ring, browser sessions, the event stream's bounds.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "common/mono_clock.h"
#include "dashboard/dashboard_http.h"
#include "dashboard/event_hub.h"
#include "dashboard/load_history.h"
#include "dashboard/sessions.h"

using namespace grappe;

TEST_CASE("dashboard history: an hour per node at 1 s, oldest first, only forward") {
  LoadHistory h;
  for (int i = 1; i <= 5000; ++i) h.add("n1", {1000.0 + i, static_cast<float>(i % 7), static_cast<uint32_t>(i)});
  const auto all = h.series("n1", 0);
  REQUIRE(all.size() == LoadHistory::kKeep);
  CHECK(all.front().t == 1000.0 + 5000 - 3600 + 1);  // the last hour
  CHECK(all.back().t == 6000.0);
  for (size_t i = 1; i < all.size(); ++i) CHECK(all[i].t > all[i - 1].t);
  // The last 5 minutes (the zoom).
  CHECK(h.series("n1", 6000.0 - 300).size() == 300);
  // A duplicate or a step back of the clock is ignored.
  h.add("n1", {6000.0, 9, 9});
  h.add("n1", {5000.0, 9, 9});
  CHECK(h.series("n1", 5999).size() == 1);
  CHECK(h.series("n1", 5999).back().load == doctest::Approx(5000 % 7));
  CHECK(h.series("nobody", 0).empty());
}

TEST_CASE("dashboard history: columns in JSON; a node silent for an hour goes; the node count is bounded") {
  LoadHistory h;
  h.add("a", {10, 0.5f, 100});
  h.add("a", {11, 1.5f, 120});
  h.add("b", {11, 2.0f, 300});
  const nlohmann::json j = h.to_json(10);
  CHECK(j["nodes"]["a"]["t"] == nlohmann::json::array({11.0}));
  CHECK(j["nodes"]["a"]["load"] == nlohmann::json::array({1.5}));
  CHECK(j["nodes"]["b"]["mem"] == nlohmann::json::array({300}));
  h.expire(11 + 3600.5);
  CHECK(h.nodes() == 0);
  for (size_t i = 0; i < LoadHistory::kNodes + 10; ++i) h.add("n" + std::to_string(i), {100.0 + static_cast<double>(i), 0, 0});
  CHECK(h.nodes() == LoadHistory::kNodes);
  CHECK(h.series("n0", 0).empty());  // heard from least recently: dropped first
  CHECK(h.series("n" + std::to_string(LoadHistory::kNodes + 9), 0).size() == 1);
}

namespace {
DashboardSessions::Random counter() {
  auto n = std::make_shared<int>(0);
  return [n](size_t bytes) {
    std::string s = std::to_string(++*n);
    return std::string(bytes * 2 - s.size(), 'a') + s;
  };
}
}  // namespace

TEST_CASE("dashboard sessions: a token is good once, for 5 minutes; actions need the session and its CSRF token") {
  DashboardSessions s(counter());
  const std::string token = s.issue(1000, 100);
  REQUIRE(token.size() == 64);
  CHECK_FALSE(s.redeem("", 101));
  CHECK_FALSE(s.redeem(token + "0", 101));
  const auto sess = s.redeem(token, 101);
  REQUIRE(sess);
  CHECK(sess->uid == 1000);
  CHECK_FALSE(s.redeem(token, 102));  // once
  CHECK(s.check(sess->id, sess->csrf, 103) == 1000u);
  CHECK_FALSE(s.check(sess->id, "", 103));            // no CSRF header: refused
  CHECK_FALSE(s.check(sess->id, sess->id, 103));      // the cookie's value is not the token
  CHECK_FALSE(s.check("", sess->csrf, 103));          // no cookie: refused
  CHECK_FALSE(s.check(sess->csrf, sess->csrf, 103));
  // Used within 12 hours, it stays; 12 idle hours end it.
  CHECK(s.check(sess->id, sess->csrf, 103 + 11 * 3600) == 1000u);
  CHECK_FALSE(s.check(sess->id, sess->csrf, 104 + 23 * 3600 + 3600));
  // An unused token expires.
  const std::string late = s.issue(0, 1000);
  CHECK_FALSE(s.redeem(late, 1000 + 301));
  // No randomness, no token.
  DashboardSessions broken([](size_t) { return std::string(); });
  CHECK(broken.issue(0, 1).empty());
}

TEST_CASE("dashboard sessions: bounded; the system's tokens are 64 hex digits and differ") {
  DashboardSessions s(counter());
  for (size_t i = 0; i < DashboardSessions::kMax + 20; ++i) {
    auto sess = s.redeem(s.issue(static_cast<uint32_t>(i), static_cast<double>(i)), static_cast<double>(i));
    REQUIRE(sess);
  }
  CHECK(s.sessions() == DashboardSessions::kMax);
  const std::string a = DashboardSessions::system_random(32), b = DashboardSessions::system_random(32);
  CHECK(a.size() == 64);
  CHECK(a != b);
  CHECK(a.find_first_not_of("0123456789abcdef") == std::string::npos);
}

TEST_CASE("dashboard events: SSE frames cannot be split by what they carry") {
  CHECK(sse_frame("node", "{\"a\":1}") == "event: node\ndata: {\"a\":1}\n\n");
  CHECK(sse_frame("x\ndata: evil", "a\n\nevent: y\r\n") == "event: x-data--evil\ndata: a  event: y  \n\n");
}

TEST_CASE("dashboard events: every client gets every event; a slow one is dropped, not buffered") {
  EventHub hub;
  const uint64_t fast = hub.subscribe(), slow = hub.subscribe();
  REQUIRE(fast);
  REQUIRE(slow);
  hub.publish("state", "1");
  CHECK(hub.take(fast, std::chrono::milliseconds(0)) == sse_frame("state", "1"));
  CHECK(hub.take(fast, std::chrono::milliseconds(10)) == "");  // nothing new: a keep-alive
  const std::string big(1000, 'x');
  for (size_t i = 0; i < EventHub::kMaxQueued / 1000 + 5; ++i) {
    hub.publish("state", big);
    CHECK(hub.take(fast, std::chrono::milliseconds(0)).has_value());  // keeps up
  }
  CHECK_FALSE(hub.take(slow, std::chrono::milliseconds(0)));  // fell behind: dropped
  CHECK(hub.dropped() == 1);
  CHECK(hub.clients() == 1);
  // A waiting client wakes when an event comes.
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    hub.publish("move", "2");
  });
  CHECK(hub.take(fast, std::chrono::seconds(5)) == sse_frame("move", "2"));
  t.join();
  hub.unsubscribe(fast);
  CHECK_FALSE(hub.take(fast, std::chrono::milliseconds(0)));
  for (size_t i = 0; i < EventHub::kMaxClients; ++i) CHECK(hub.subscribe() != 0);
  CHECK(hub.subscribe() == 0);  // full
}

TEST_CASE("dashboard events: one state larger than the bound still reaches a client that keeps up; none after close") {
  EventHub hub;
  const uint64_t c = hub.subscribe();
  const std::string huge(EventHub::kMaxQueued + 10, 'x');
  hub.publish("state", huge);
  auto got = hub.take(c, std::chrono::milliseconds(0));
  REQUIRE(got);
  CHECK(got->size() > EventHub::kMaxQueued);
  hub.publish("state", huge);
  hub.publish("state", "1");  // behind by more than the bound now: dropped
  CHECK_FALSE(hub.take(c, std::chrono::milliseconds(0)));
  const uint64_t d = hub.subscribe();
  hub.close_all();
  CHECK_FALSE(hub.take(d, std::chrono::milliseconds(0)));
  CHECK(hub.subscribe() == 0);  // stopping: no new stream
}


TEST_CASE("dashboard actions: only the known ones, rebuilt from checked fields") {
  auto a = dashboard_action({{"action", "migrate"}, {"job", "1.3"}, {"to", "node-2"}, {"extra", "x"}});
  CHECK(a.error.empty());
  CHECK(a.request == nlohmann::json{{"v", 1}, {"cmd", "migrate"}, {"job", "1.3"}, {"to", "node-2"}});
  CHECK(dashboard_action({{"action", "block"}}).request == nlohmann::json{{"v", 1}, {"cmd", "node"}, {"op", "block"}});
  CHECK(dashboard_action({{"action", "kill"}, {"job", "2.1"}}).request["cmd"] == "kill");
  CHECK(dashboard_action({{"action", "migrate"}, {"job", "1;rm"}, {"to", "2"}}).error.find("job id") != std::string::npos);
  CHECK(dashboard_action({{"action", "migrate"}, {"job", "1.1"}, {"to", "a b"}}).error.find("\"to\"") != std::string::npos);
  CHECK(dashboard_action({{"action", "rekey"}}).error.find("unknown action 'rekey'") != std::string::npos);
  CHECK(dashboard_action(nlohmann::json::array()).error == "an action is a JSON object");
  CHECK(dashboard_action({{"action", 3}}).error.find("unknown action") != std::string::npos);
}

TEST_CASE("dashboard cookies: the session's value among others") {
  CHECK(session_cookie("a=1; grappe_session=abc; b=2") == "abc");
  CHECK(session_cookie("grappe_session=x") == "x");
  CHECK(session_cookie("xgrappe_session=y").empty());
  CHECK(session_cookie("").empty());
}

TEST_CASE("dashboard server on loopback: state open to all, actions only with the session and its CSRF token") {
  const std::string assets = std::filesystem::temp_directory_path() / ("grappe-dash-" + std::to_string(::getpid()));
  std::filesystem::create_directories(assets);
  std::ofstream(assets + "/index.html") << "<title>Grappe</title>";
  std::vector<std::pair<nlohmann::json, uid_t>> acted;
  DashboardHttp d(assets, [&](const nlohmann::json& req, uid_t uid) {
    acted.emplace_back(req, uid);
    return nlohmann::json{{"ok", true}};
  });
  std::string err;
  REQUIRE(d.start("127.0.0.1", 0, err));
  d.tick(1000, nlohmann::json::array({{{"name", "n1"}, {"state", "alive"}, {"load", 1.5}, {"mem_total_mb", 1000}, {"mem_free_mb", 400}}}),
         nlohmann::json::array());
  httplib::Client c("127.0.0.1", d.port());
  auto page = c.Get("/");
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->body == "<title>Grappe</title>");
  CHECK(page->get_header_value("Content-Security-Policy").find("default-src 'self'") != std::string::npos);
  CHECK(c.Get("/assets/../../etc/passwd")->status == 404);
  auto state = c.Get("/api/state");
  REQUIRE(state);
  CHECK(nlohmann::json::parse(state->body)["nodes"][0]["name"] == "n1");
  // Only a member's dashboard (an address the nodes reply names, on this port) may read the state
  // from its page; no other site.
  d.tick(1001, nlohmann::json::array({{{"name", "n1"}, {"state", "alive"}, {"load", 1.5}, {"mem_total_mb", 1000}, {"mem_free_mb", 400}},
                                      {{"name", "n2"}, {"address", "10.0.0.2"}, {"state", "alive"}}}),
         nlohmann::json::array());
  const std::string member = "http://10.0.0.2:" + std::to_string(d.port());
  CHECK(c.Get("/api/state", {{"Origin", member}})->get_header_value("Access-Control-Allow-Origin") == member);
  CHECK(c.Get("/api/state", {{"Origin", "http://evil.example"}})->get_header_value("Access-Control-Allow-Origin").empty());
  auto hist = nlohmann::json::parse(c.Get("/api/history?since=0")->body);
  CHECK(hist["nodes"]["n1"]["mem"] == nlohmann::json::array({600, 600}));
  // No session: refused, nothing done.
  const std::string act = R"({"action":"block"})";
  CHECK(c.Post("/api/action", act, "application/json")->status == 403);
  // A used or unknown token gives no session.
  CHECK(c.Post("/api/session", R"({"token":"nope"})", "application/json")->status == 403);
  CHECK(c.Post("/api/session", {{"Origin", "http://evil.example"}}, nlohmann::json{{"token", d.token(0, now_s())}}.dump(), "application/json")->status ==
        403);  // a session starts from this node's own page only
  const std::string token = d.token(1000, now_s());
  auto sess = c.Post("/api/session", nlohmann::json{{"token", token}}.dump(), "application/json");
  REQUIRE(sess);
  REQUIRE(sess->status == 200);
  const std::string cookie = sess->get_header_value("Set-Cookie");
  CHECK(cookie.find("HttpOnly") != std::string::npos);
  CHECK(cookie.find("SameSite=Strict") != std::string::npos);
  const std::string id = session_cookie(cookie.substr(0, cookie.find(';')));
  const std::string csrf = nlohmann::json::parse(sess->body)["csrf"];
  CHECK(c.Post("/api/session", nlohmann::json{{"token", token}}.dump(), "application/json")->status == 403);  // once
  // The cookie alone (what a forged cross-site form would carry) is refused; so is another origin.
  CHECK(c.Post("/api/action", {{"Cookie", "grappe_session=" + id}}, act, "application/json")->status == 403);
  CHECK(c.Post("/api/action", {{"Cookie", "grappe_session=" + id}, {"X-Grappe-CSRF", csrf}, {"Origin", "http://evil.example"}}, act,
               "application/json")->status == 403);
  CHECK(acted.empty());
  auto ok = c.Post("/api/action", {{"Cookie", "grappe_session=" + id}, {"X-Grappe-CSRF", csrf}}, act, "application/json");
  REQUIRE(ok);
  CHECK(ok->status == 200);
  REQUIRE(acted.size() == 1);
  CHECK(acted[0].first == nlohmann::json{{"v", 1}, {"cmd", "node"}, {"op", "block"}});
  CHECK(acted[0].second == 1000u);
  auto bad = c.Post("/api/action", {{"Cookie", "grappe_session=" + id}, {"X-Grappe-CSRF", csrf}}, R"({"action":"format"})", "application/json");
  CHECK(bad->status == 400);
  // The event stream starts with the state, then carries what happens.
  std::string got;
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    d.event("move", {{"job", "1.1"}, {"from", "n1"}, {"to", "n2"}});
  });
  httplib::Client s("127.0.0.1", d.port());
  s.Get("/api/events", [&](const char* data, size_t n) {
    got.append(data, n);
    return got.find("event: move") == std::string::npos;  // stop reading once the move came
  });
  later.join();
  CHECK(got.rfind("event: state\ndata: {", 0) == 0);
  CHECK(got.find("event: move\ndata: {\"from\":\"n1\",\"job\":\"1.1\",\"to\":\"n2\"}") != std::string::npos);
  d.stop();
  std::filesystem::remove_all(assets);
}
