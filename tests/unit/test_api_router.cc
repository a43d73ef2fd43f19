// The local API's router and command table with fakes for the daemon's parts: every command
// reaches its handler; every field of every command, given the wrong type or a bad value, gets
// ok:false naming the field (never an exception); so do unknown commands, a wrong "v", JSON that
// is not an object, binary data and lines over 1 MiB. And the per-user connection cap.
#include <csignal>
#include <set>

#include <doctest/doctest.h>

#include "common/api_protocol.h"
#include "common/json_fields.h"
#include "daemon/api_admission.h"
#include "daemon/api_commands.h"

using namespace grappe;
using nlohmann::json;

namespace {

struct NoPipeSpawner : Spawner {
  int spawned = 0;
  Spawned spawn(const SpawnSpec&) override {
    ++spawned;
    Spawned s;
    s.pid = 999999;  // no such child: never reaped, never signalled (the tests mark it remote)
    return s;
  }
};

// The table over a real JobService (fake spawner) and recording fakes for the rest.
struct Api {
  NoPipeSpawner sp;
  JobService jobs{sp, "/bin/sh", "node1", "/proc"};
  std::multiset<std::string> reached;
  json migrate_got;
  int saved = 0;
  ApiRouter router;
  Api() {
    jobs.set_node_number(1);
    ApiParts p;
    p.jobs = &jobs;
    p.nodes = [this](double) { return reached.insert("nodes"), json{{"v", 1}, {"ok", true}, {"nodes", json::array()}}; };
    p.status = [this](double) { return reached.insert("status"), json{{"v", 1}, {"ok", true}}; };
    p.node = [this](const std::string& op, const std::string& value, const Caller&) {
      return reached.insert("node"), json{{"v", 1}, {"ok", true}, {"op", op}, {"value", value}};
    };
    p.boot = [this](const std::string& op, const std::string&, const Caller&) { return reached.insert("boot-server"), json{{"v", 1}, {"ok", true}, {"op", op}}; };
    p.migrate = [this](const json& req, const Caller&) {
      reached.insert("migrate");
      migrate_got = req;
      return json();  // the answer comes when the handoff ends
    };
    p.cluster = [this](const std::string& op, const std::string& value, const Caller&) {
      reached.insert("cluster");
      return op == "rekey" ? json() : json{{"v", 1}, {"ok", true}, {"op", op}, {"value", value}};  // a rekey answers later
    };
    p.job_started = [this] { ++saved; };
    p.dashboard = [this](const Caller& who) { return reached.insert("dashboard"), json{{"v", 1}, {"ok", true}, {"uid", who.uid}}; };
    router = make_api_router(std::move(p));
  }
  ApiReply call(const json& req, int client = 7) { return router.route(req.dump(), caller(client), 10); }
  static Caller caller(int client) { return Caller{1000, 1000, 0, client}; }
};

// A request that the command accepts as far as its fields go.
json good(const std::string& cmd) {
  json r = {{"v", 1}, {"cmd", cmd}};
  if (cmd == "run") r["argv"] = {"true"};
  if (cmd == "kill") r["job"] = "1.1";
  if (cmd == "stdin") r["data"] = b64_encode("x");
  if (cmd == "signal") r["sig"] = 2;
  if (cmd == "node") r["op"] = "show";
  if (cmd == "cluster") r["op"] = "forget", r["value"] = "3";
  if (cmd == "migrate") r["job"] = "1.1", r["to"] = "2";
  return r;
}

std::string error_of(const ApiReply& r) {
  Fields f(r.body, "reply");
  return f.str("error");
}

}  // namespace

TEST_CASE("API router: every command reaches its handler") {
  Api a;
  for (const char* cmd : {"nodes", "status", "node", "boot-server", "dashboard"}) {
    auto r = a.call(good(cmd));
    CHECK(r.body["ok"] == true);
    CHECK_FALSE(r.attached);
  }
  CHECK(a.reached == std::multiset<std::string>{"boot-server", "dashboard", "node", "nodes", "status"});
  CHECK(a.call(good("dashboard")).body["uid"] == 1000);  // the token is the caller's
  CHECK(a.call({{"v", 1}, {"cmd", "node"}, {"op", "speed"}, {"value", "900"}}).body["value"] == "900");
  CHECK(a.call({{"v", 1}, {"cmd", "boot-server"}}).body["op"] == "status");
  // cluster: forget answers at once here; rekey's answer comes once the members took the key.
  CHECK(a.call(good("cluster")).body["value"] == "3");
  auto rk = a.call({{"v", 1}, {"cmd", "cluster"}, {"op", "rekey"}});
  CHECK(rk.body.is_null());
  CHECK(rk.attached);
  CHECK(a.reached.count("cluster") == 2);

  // migrate gets only the checked fields, and the connection waits for the handoff's answer.
  auto m = a.call({{"v", 1}, {"cmd", "migrate"}, {"job", "1.4"}, {"to", "home"}, {"precopy", false}, {"extra", {1, 2}}});
  CHECK(m.body.is_null());
  CHECK(m.attached);
  CHECK(a.migrate_got == json{{"job", "1.4"}, {"to", "home"}, {"precopy", false}});
  a.call(good("migrate"));
  CHECK(a.migrate_got == json{{"job", "1.1"}, {"to", "2"}});

  // The job commands: run starts (and the state is saved), ps lists, the stream commands act on
  // the job attached to this connection, kill answers.
  auto run = a.call({{"v", 1}, {"cmd", "run"}, {"argv", {"sleep", "9"}}, {"stdin", true}, {"tty_out", true}});
  REQUIRE(run.body["ok"] == true);
  CHECK(run.attached);
  CHECK(a.sp.spawned == 1);
  CHECK(a.saved == 1);
  const std::string id = run.body["job"];
  Job& j = *a.jobs.table().find(id);
  j.remote = true;  // its signals go to the relay's queue, not to a pid
  auto ps = a.call({{"v", 1}, {"cmd", "ps"}, {"all", true}});
  CHECK(ps.body["jobs"].size() == 1);
  auto in = a.call(good("stdin"));
  CHECK(in.body.is_null());
  CHECK(in.attached);
  CHECK(j.in_q == "x");
  CHECK(a.call(good("signal")).attached);
  CHECK(j.sig_q == std::vector<int>{2});
  CHECK(a.call(good("eof")).attached);
  CHECK(j.in_eof);
  auto k = a.call({{"v", 1}, {"cmd", "kill"}, {"job", id}});
  CHECK(k.body["ok"] == true);
  CHECK(j.sig_q == std::vector<int>{2, SIGTERM});
  CHECK(error_of(a.call({{"v", 1}, {"cmd", "kill"}, {"job", "9.99"}})).find("kill: no job 9.99") == 0);
  // Another connection has no job attached: the stream commands are refused and it is closed.
  auto other = a.call(good("stdin"), 8);
  CHECK(error_of(other).find("stdin: no running job attached") == 0);
  CHECK_FALSE(other.attached);
}

TEST_CASE("API router: a wrong type or bad value in any field of any command is refused, naming the field") {
  struct Bad {
    const char* cmd;
    const char* field;
    json value;
  };
  const std::vector<Bad> bad = {
      {"run", "argv", 1},          {"run", "argv", "ls"},        {"run", "argv", json::array()}, {"run", "argv", {"ls", 2}},
      {"run", "argv", {std::string("a\0b", 3)}},                 {"run", "env", "X=1"},          {"run", "env", {{{"X", 1}}}},
      {"run", "cwd", 5},           {"run", "cwd", "relative"},   {"run", "node", "2"},          {"run", "node", -1},
      {"run", "node", 1.5},        {"run", "node", 70000},       {"run", "stdin", "yes"},        {"run", "stay", 1},
      {"run", "detach", "no"},     {"run", "tty_out", {true}},   {"run", "tty_err", json::object()},
      {"ps", "all", "yes"},        {"kill", "job", 11},          {"kill", "job", {"1.1"}},      {"kill", "sig", "TERM"},
      {"kill", "sig", 0},          {"kill", "sig", 100000},      {"stdin", "data", 1},          {"stdin", "data", "!!!not base64"},
      {"signal", "sig", "INT"},    {"signal", "sig", -3},        {"signal", "sig", 1e300},      {"node", "op", 1},
      {"node", "op", {"show"}},    {"node", "value", 900},       {"boot-server", "op", true},   {"migrate", "job", 1},
      {"migrate", "to", {"2"}},    {"migrate", "to", 2},         {"migrate", "precopy", "yes"}, {"migrate", "precopy", 1},
      {"cluster", "op", 1},        {"cluster", "op", {"rekey"}}, {"cluster", "value", 3},       {"cluster", "value", std::string(65, 'a')}};
  for (const auto& b : bad) {
    Api a;
    json req = good(b.cmd);
    req[b.field] = b.value;
    INFO(b.cmd << " " << req.dump());
    ApiReply r;
    CHECK_NOTHROW(r = a.call(req));
    CHECK(r.body["ok"] == false);
    CHECK(r.body["v"] == 1);
    CHECK_FALSE(r.attached);
    const std::string err = error_of(r);
    CHECK(err.find(std::string(b.cmd) + ":") == 0);
    CHECK(err.find("\"" + std::string(b.field) + "\"") != std::string::npos);
    CHECK(a.reached.empty());  // the daemon's parts never saw it
    CHECK(a.sp.spawned == 0);
  }
  // Required fields missing.
  for (auto [cmd, field] : {std::pair{"run", "argv"}, {"kill", "job"}, {"stdin", "data"}, {"signal", "sig"}, {"node", "op"},
                            {"migrate", "job"}, {"migrate", "to"}, {"cluster", "op"}}) {
    Api a;
    json req = good(cmd);
    req.erase(field);
    const std::string err = error_of(a.call(req));
    CHECK(err == std::string(cmd) + ": \"" + field + "\" is missing");
  }
}

TEST_CASE("API router: bad envelopes: not an object, wrong or missing v and cmd, unknown command, binary, too long") {
  Api a;
  auto err = [&](std::string_view line) {
    ApiReply r;
    CHECK_NOTHROW(r = a.router.route(line, Api::caller(7), 0));
    CHECK(r.body["ok"] == false);
    CHECK(r.body["v"] == 1);
    CHECK_FALSE(r.attached);
    return error_of(r);
  };
  CHECK(err(R"({"cmd":1})") == "request: \"v\" is missing");  // once a type_error that killed grapped
  CHECK(err(R"({"v":1,"cmd":1})") == "request: \"cmd\" must be a string");
  CHECK(err(R"({"v":1})") == "request: \"cmd\" is missing");
  CHECK(err(R"({"v":"1","cmd":"nodes"})").find("\"v\" must be an integer") != std::string::npos);
  CHECK(err(R"({"v":[1],"cmd":"nodes"})").find("\"v\"") != std::string::npos);
  CHECK(err(R"({"v":2,"cmd":"nodes"})") == "unsupported API version 2; this daemon speaks v1");
  CHECK(err(R"({"v":1,"cmd":"reboot"})").find("unknown command 'reboot' (known: attach, boot-server, cluster, dashboard, eof, kill, migrate, node, nodes,") == 0);
  for (const char* line : {"[1,2]", "\"nodes\"", "1", "null", "true", "not json", "{", "", "{\"v\":1,\"cmd\":\"nodes\"} x"})
    CHECK(err(line) == "request is not a JSON object");
  CHECK(err("{\"v\":1,\"cmd\":\"n\xffodes\"}").find("not UTF-8") != std::string::npos);
  CHECK(err(std::string("{\"v\":1,\0\"cmd\":\"nodes\"}", 23)).find("not UTF-8") != std::string::npos);
  CHECK(err("\xc0\xaf") .find("not UTF-8") != std::string::npos);                            // overlong
  CHECK(err("{\"v\":1,\"cmd\":\"\xed\xa0\x80\"}").find("not UTF-8") != std::string::npos);  // a surrogate
  CHECK(err(std::string(kMaxRequestLine + 1, ' ')) == "request line longer than 1 MiB");
  CHECK(a.reached.empty());
  // Valid UTF-8 beyond ASCII is text like any other.
  CHECK(err(R"({"v":1,"cmd":"nœud"})").find("unknown command 'nœud'") == 0);
}

TEST_CASE("API router: an exception from a handler is an internal-error reply, not a dead daemon") {
  ApiRouter r;
  r.add("boom", [](const json&, const Caller&, double) -> ApiReply { throw std::runtime_error("disk on fire"); });
  r.add("json", [](const json& req, const Caller&, double) { return ApiReply{req.at("missing"), false}; });
  auto a = r.route(R"({"v":1,"cmd":"boom"})", Caller{}, 0);
  CHECK(a.body["ok"] == false);
  CHECK(a.body["error"] == "boom: internal error in grapped: disk on fire");
  CHECK(r.route(R"({"v":1,"cmd":"json"})", Caller{}, 0).body["error"].get<std::string>().find("json: internal error") == 0);
}

TEST_CASE("API admission: 16 connections per user, the last 8 of 64 for root") {
  CHECK(api_admission(1000, 0, 0).empty());
  CHECK(api_admission(1000, 15, 15).empty());
  CHECK(api_admission(1000, 16, 16).find("at most 16 per user") != std::string::npos);
  CHECK(api_admission(1001, 0, 16).empty());  // another user is not held back by the first
  CHECK(api_admission(0, 40, 40).empty());     // root has no per-user cap
  // Several users together fill 56; the rest is root's.
  CHECK(api_admission(1004, 8, 55).empty());
  CHECK(api_admission(1004, 8, 56).find("for root") != std::string::npos);
  CHECK(api_admission(0, 0, 56).empty());
  CHECK(api_admission(0, 7, 63).empty());
  CHECK(api_admission(0, 8, 64).find("limit") != std::string::npos);
  CHECK(api_admission(1000, 0, 64).find("limit") != std::string::npos);
  ApiLimits tight{4, 2, 1};
  CHECK(api_admission(5, 2, 2, tight).find("at most 2 per user") != std::string::npos);
  CHECK(api_admission(6, 0, 3, tight).find("for root") != std::string::npos);
}
