// `grappe node` and `grappe boot-server` as logic over this node's settings (NodeAdmin), its job
// table and the balancing work: only root changes anything; a change is saved (admin.json) before
// it takes effect; expel and bring send the jobs concerned home at once and open the balancing
// work's windows for those already on their way. Fields are checked by the router beforehand.
#pragma once
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "balance/balance_loop.h"
#include "balance/node_admin.h"
#include "boot/boot_policy.h"
#include "jobs/job_service.h"

namespace grappe {

// Guests running here, and the flags this node publishes (`full` once at maxguests).
int guests(const JobTable& jobs);
uint16_t published_flags(const NodeAdmin& admin, const JobTable& jobs);

struct AdminEnv {
  NodeAdmin* admin = nullptr;
  std::string file;  // <state dir>/admin.json
  JobTable* jobs = nullptr;
  BalanceLoop* balance = nullptr;
  // Starts moving `job` to the node named `to`: "" when started, else why not.
  std::function<std::string(const std::string& job, const std::string& to, const std::string& reason)> move;
  std::function<void(const std::string&)> log;
  AdmitPolicy local_policy = AdmitPolicy::Auto;  // [boot] admission: until the cluster sets one
};

class AdminCommands {
 public:
  explicit AdminCommands(AdminEnv env) : env_(std::move(env)) {}
  // `self`: this node's name; `now`: for the balancing work's windows.
  nlohmann::json node(const std::string& op, const std::string& value, const Caller& who, const std::string& self, double now,
                      uint32_t calibrated_speed);
  // `status`: the boot service's status (or null), which the reply extends. `op` enable, disable,
  // status, or admission with `value` auto|listed|ask (the cluster-wide admission policy).
  nlohmann::json boot(const std::string& op, const std::string& value, const Caller& who, const nlohmann::json& status);

 private:
  std::string save(const NodeAdmin& next);  // "" when saved and in effect, else why not
  nlohmann::json send_home(const std::string& op, const std::string& self);
  AdminEnv env_;
};

}  // namespace grappe
