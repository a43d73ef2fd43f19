// The dashboard's core (#27): the load history ring, browser sessions, the event stream's bounds.
#include <doctest/doctest.h>

#include <string>
#include <thread>

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
