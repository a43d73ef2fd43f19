// libFuzzer target for the local API's dispatcher: one request line, as any local user could send
// it, through the router and the real command table (api_commands.h) with the job service over a
// spawner that starts nothing and fakes for the daemon's other parts. Whatever the line, there is
// no exception (not even one the router catches), no crash, and the reply is a v1 object with "ok" (or nothing, for a stream
// command or a migration that answers later) that serialises and parses back.
#include <cstdlib>

#include "common/json_fields.h"
#include "daemon/api_commands.h"

using namespace grappe;
using nlohmann::json;

namespace {

struct RefusingSpawner : Spawner {
  Spawned spawn(const SpawnSpec&) override {
    Spawned s;
    s.error = "the fuzzer starts no process";
    return s;
  }
};

constexpr int kClient = 7;

struct World {
  RefusingSpawner sp;
  JobService jobs{sp, "/bin/sh", "node1", "/nonexistent-proc"};
  ApiRouter router;
  World() {
    jobs.set_node_number(1);
    ApiParts p;
    p.jobs = &jobs;
    p.nodes = [](double) { return json{{"v", 1}, {"ok", true}, {"nodes", json::array()}}; };
    p.status = [](double now) { return json{{"v", 1}, {"ok", true}, {"uptime_s", now}}; };
    // Echo what they were given: the reply then carries the request's strings through dump_safe.
    p.node = [](const std::string& op, const std::string& value, const Caller&) {
      return json{{"v", 1}, {"ok", op == "show"}, {"error", "echo: " + op + " " + value}};
    };
    p.boot = [](const std::string& op, const std::string&, const Caller&) { return json{{"v", 1}, {"ok", true}, {"op", op}}; };
    p.migrate = [](const json& req, const Caller&) {
      if (req.size() > 3 || !req.at("job").is_string() || !req.at("to").is_string()) std::abort();  // only checked fields
      return req.at("to") == "later" ? json() : json{{"v", 1}, {"ok", false}, {"error", "migrate: " + req.at("job").get<std::string>()}};
    };
    p.cluster = [](const std::string& op, const std::string& value, const Caller&) {
      if (value.size() > 64) std::abort();  // bounded by the router's check
      return op == "rekey" ? json() : json{{"v", 1}, {"ok", false}, {"error", "cluster: " + op}};
    };
    router = make_api_router(std::move(p));
  }
  // A job that ran here and moved on, attached to the fuzzer's connection: the stream commands
  // and kill act on it (queues only: a remote job has no pid to signal).
  void reset_job() {
    Job j;
    j.id = "1.1";
    j.uid = 65534;
    j.user = "nobody";
    j.home = j.node = "node1";
    j.state = JobState::Running;
    j.remote = true;
    j.watcher = kClient;
    j.pid = -1;
    jobs.table().all().clear();
    jobs.table().add(std::move(j));
  }
};

void check(const ApiReply& r) {
  if (r.body.is_null()) return;
  if (!r.body.is_object() || r.body.value("v", 0) != 1 || !r.body.contains("ok") || !r.body["ok"].is_boolean()) std::abort();
  if (!r.body["ok"].get<bool>() && !r.body.value("error", json()).is_string()) std::abort();
  // A handler that threw (the router's "<command>: internal error in grapped" reply) is a bug the
  // fuzzer should report. Other errors may quote the request, "internal error" included.
  const std::string err = r.body.value("error", std::string());
  for (const char* cmd : {"nodes", "status", "run", "ps", "kill", "stdin", "eof", "signal", "node", "boot-server", "migrate"})
    if (err.rfind(std::string(cmd) + ": internal error in grapped", 0) == 0) std::abort();
  if (json::parse(dump_safe(r.body), nullptr, false).is_discarded()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World w;
  w.reset_job();
  const Caller who{65534, 65534, 0, kClient};
  check(w.router.route(std::string_view(reinterpret_cast<const char*>(data), size), who, 100.0));
  return 0;
}
