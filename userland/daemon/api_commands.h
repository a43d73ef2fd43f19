// The local API's commands: the router's table (api_router.h) filled with one handler per command,
// each checking the fields it reads before anything acts on them. The daemon's parts come in as
// seams (ApiParts), so the table runs in unit tests and under the fuzzer with fakes.
#pragma once
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "daemon/api_router.h"
#include "jobs/job_service.h"

namespace grappe {

struct ApiParts {
  JobService* jobs = nullptr;  // run, ps, kill, stdin, eof, signal
  std::function<nlohmann::json(double now)> nodes, status;
  // `grappe node OP [VALUE]` and `grappe boot-server [OP]`, their fields checked to be strings.
  std::function<nlohmann::json(const std::string& op, const std::string& value, const Caller&)> node;
  // `grappe boot-server [OP]`, and `grappe admit|deny MAC` (op admit/deny, value the MAC).
  std::function<nlohmann::json(const std::string& op, const std::string& value, const Caller&)> boot;
  // `grappe migrate`: gets a request rebuilt from the checked fields only ("job", "to", and
  // "precopy" when given); null when the answer comes when the handoff ends.
  std::function<nlohmann::json(const nlohmann::json& checked, const Caller&)> migrate;
  // `grappe cluster rekey` and `grappe node forget|unforget N` (op rekey, forget, unforget; value
  // the node): null when the answer comes once the members answered.
  std::function<nlohmann::json(const std::string& op, const std::string& value, const Caller&)> cluster;
  std::function<void()> job_started;  // after a successful run (the job sequence moved on)
  // `grappe dashboard`: a one-time token for the caller's browser session (dashboard/sessions.h).
  std::function<nlohmann::json(const Caller&)> dashboard;
};

ApiRouter make_api_router(ApiParts parts);

}  // namespace grappe
