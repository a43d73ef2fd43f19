#include "daemon/api_commands.h"

#include "common/json_fields.h"

namespace grappe {
namespace {

// The job commands: JobService checks their fields.
void add_job_commands(ApiRouter& r, JobService* jobs, std::function<void()> job_started) {
  r.add("run", [jobs, job_started](const nlohmann::json& req, const Caller& who, double now) {
    ApiReply out;
    out.body = jobs->run(req, who, now, out.attached);
    if (out.body.is_object() && out.body.contains("job") && job_started) job_started();
    return out;
  });
  r.add("ps", [jobs](const nlohmann::json& req, const Caller& who, double now) { return ApiReply{jobs->ps(req, who, now), false}; });
  r.add("kill", [jobs](const nlohmann::json& req, const Caller& who, double) { return ApiReply{jobs->kill(req, who), false}; });
  r.add("attach", [jobs](const nlohmann::json& req, const Caller& who, double) {
    ApiReply out;
    out.body = jobs->attach(req, who, out.attached);
    return out;
  });
  // From the attached caller: no reply when done, and the stream stays open; an error closes it.
  using Stream = nlohmann::json (JobService::*)(const nlohmann::json&, const Caller&);
  for (const auto& entry : {std::pair<const char*, Stream>{"stdin", &JobService::stdin_data}, {"eof", &JobService::stdin_eof},
                            {"signal", &JobService::signal}}) {
    const Stream fn = entry.second;  // clang before 16 cannot capture a structured binding
    r.add(entry.first, [jobs, fn](const nlohmann::json& req, const Caller& who, double) {
      nlohmann::json body = (jobs->*fn)(req, who);
      return ApiReply{body, body.is_null()};
    });
  }
}

ApiReply checked_node(const ApiParts& p, const nlohmann::json& req, const Caller& who) {
  Fields f(req, "node");
  const std::string op = f.str("op", "", Need::Required, 32), value = f.str("value", "", Need::Optional, 64);
  if (!f.ok()) return {api_error(f.error()), false};
  return {p.node(op, value, who), false};
}

ApiReply checked_boot(const ApiParts& p, const nlohmann::json& req, const Caller& who) {
  Fields f(req, "boot-server");
  const std::string op = f.str("op", "status", Need::Optional, 32), value = f.str("value", "", Need::Optional, 64);
  if (!f.ok()) return {api_error(f.error()), false};
  nlohmann::json body = p.boot(op, value, who);
  return {body, body.is_null()};  // admit/deny forwarded to the serving node: the answer comes later
}

ApiReply checked_cluster(const ApiParts& p, const nlohmann::json& req, const Caller& who) {
  Fields f(req, "cluster");
  const std::string op = f.str("op", "", Need::Required, 32), value = f.str("value", "", Need::Optional, 64);
  if (!f.ok()) return {api_error(f.error()), false};
  nlohmann::json body = p.cluster(op, value, who);
  return {body, body.is_null()};  // a rekey answers once the members did
}

// Migrator::request (migration/) reads "job", "to" and "precopy": it gets only these, checked.
ApiReply checked_migrate(const ApiParts& p, const nlohmann::json& req, const Caller& who) {
  Fields f(req, "migrate");
  nlohmann::json checked = {{"job", f.str("job", "", Need::Required, 64)}, {"to", f.str("to", "", Need::Required, 255)}};
  const bool precopy = f.boolean("precopy", false);
  if (!f.ok()) return {api_error(f.error()), false};
  if (f.has("precopy")) checked["precopy"] = precopy;
  nlohmann::json body = p.migrate(checked, who);
  return {body, body.is_null()};
}

}  // namespace

ApiRouter make_api_router(ApiParts p) {
  ApiRouter r;
  r.add("nodes", [p](const nlohmann::json&, const Caller&, double now) { return ApiReply{p.nodes(now), false}; });
  r.add("status", [p](const nlohmann::json&, const Caller&, double now) { return ApiReply{p.status(now), false}; });
  r.add("node", [p](const nlohmann::json& req, const Caller& who, double) { return checked_node(p, req, who); });
  r.add("boot-server", [p](const nlohmann::json& req, const Caller& who, double) { return checked_boot(p, req, who); });
  r.add("cluster", [p](const nlohmann::json& req, const Caller& who, double) { return checked_cluster(p, req, who); });
  r.add("migrate", [p](const nlohmann::json& req, const Caller& who, double) { return checked_migrate(p, req, who); });
  r.add("dashboard", [p](const nlohmann::json&, const Caller& who, double) {
    return ApiReply{p.dashboard ? p.dashboard(who) : api_error("dashboard: not available in this grapped"), false};
  });
  add_job_commands(r, p.jobs, p.job_started);
  return r;
}

}  // namespace grappe
