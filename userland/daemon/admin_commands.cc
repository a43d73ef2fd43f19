#include "daemon/admin_commands.h"

#include "balance/balancer.h"
#include "boot/cluster_policy.h"

namespace grappe {
namespace {

nlohmann::json fail(const std::string& cmd, const std::string& why) {
  return {{"v", 1}, {"ok", false}, {"error", cmd + ": " + why}};
}

}  // namespace

int guests(const JobTable& jobs) {
  int n = 0;
  for (const auto& [id, j] : jobs.all()) n += j.state == JobState::Running && j.guest;
  return n;
}

uint16_t published_flags(const NodeAdmin& admin, const JobTable& jobs) {
  uint16_t f = admin.flags;
  if (admin.max_guests >= 0 && guests(jobs) >= admin.max_guests) f |= kFlagFull;
  return f;
}

std::string AdminCommands::save(const NodeAdmin& next) {
  try {
    save_node_admin(env_.file, next);
  } catch (const std::exception& e) {
    return std::string("cannot save the setting: ") + e.what();
  }
  *env_.admin = next;
  return "";
}

// expel: the guests go home; bring: this node's jobs come back. Each as {job, from, error}.
nlohmann::json AdminCommands::send_home(const std::string& op, const std::string& self) {
  nlohmann::json moving = nlohmann::json::array();
  for (auto& [id, j] : env_.jobs->all()) {
    if (j.state != JobState::Running || j.migrating) continue;
    const bool send = (op == "expel" && j.guest) || (op == "bring" && j.remote && j.home == self);
    if (!send) continue;
    std::string why = env_.move(id, j.home, "grappe node " + op);
    if (why.empty()) env_.balance->sent_on(id);
    moving.push_back({{"job", id}, {"from", j.node}, {"error", why}});
  }
  return moving;
}

nlohmann::json AdminCommands::node(const std::string& op, const std::string& value, const Caller& who, const std::string& self,
                                   double now, uint32_t calibrated_speed) {
  nlohmann::json moving = nlohmann::json::array();
  if (op != "show") {
    if (who.uid != 0) return fail("node", "only root may change this node's settings (try sudo grappe node " + op + ")");
    NodeAdmin next = *env_.admin;
    std::string err;
    if (op == "expel") next.flags |= kFlagBlock;       // and no new guests from now on
    else if (op == "bring") next.flags |= kFlagLstay;  // and the balancer keeps them home
    else if (!next.apply(op, value, err)) return fail("node", err);
    if (std::string why = save(next); !why.empty()) return fail("node", why);
    env_.balance->admin_op(op, now);
    moving = send_home(op, self);
    env_.log("admin: node " + op + (value.empty() ? "" : " " + value) + " by uid " + std::to_string(who.uid) +
             (moving.empty() ? "" : ", " + std::to_string(moving.size()) + " job(s) going home"));
  }
  nlohmann::json r = env_.admin->to_json();
  r["v"] = 1;
  r["ok"] = true;
  r["flags"] = flags_text(published_flags(*env_.admin, *env_.jobs));
  r["guests"] = guests(*env_.jobs);
  r["calibrated_speed"] = calibrated_speed;
  r["moving"] = moving;
  return r;
}

nlohmann::json AdminCommands::boot(const std::string& op, const std::string& value, const Caller& who,
                                   const nlohmann::json& status) {
  if (op == "enable" || op == "disable") {
    if (who.uid != 0) return fail("boot-server", "only root may change the cluster's network boot (try sudo grappe boot-server " + op + ")");
    NodeAdmin next = *env_.admin;
    next.set_netboot(op == "enable");
    if (std::string why = save(next); !why.empty()) return fail("boot-server", why);
    env_.log("admin: boot-server " + op + " by uid " + std::to_string(who.uid));
  } else if (op == "admission") {
    AdmitPolicy p;
    if (!parse_admit_policy(value, p))
      return fail("boot-server", "admission '" + value + "' is not a policy: use auto, listed or ask (grappe boot-server admission ask)");
    if (who.uid != 0)
      return fail("boot-server", "only root may change the cluster's admission policy (try sudo grappe boot-server admission " + value + ")");
    NodeAdmin next = *env_.admin;
    if (!next_policy_setting(next.admission, p, next.admission))
      return fail("boot-server", "the admission setting's generation is exhausted; remove \"admission\" from admin.json on every node");
    if (std::string why = save(next); !why.empty()) return fail("boot-server", why);
    env_.log("admin: boot-server admission " + value + " by uid " + std::to_string(who.uid) + " (for the whole cluster)");
  } else if (op != "status") {
    return fail("boot-server", "unknown operation '" + op + "': use enable, disable, admission auto|listed|ask or status");
  }
  nlohmann::json r = status.is_object() ? status : nlohmann::json::object();
  r["enabled"] = env_.admin->netboot_on();
  const EffectivePolicy pol = effective_policy(env_.admin->admission, env_.local_policy);
  r["admission_policy"] = {{"policy", admit_policy_name(pol.policy)}, {"from", pol.from}};
  r["v"] = 1;
  r["ok"] = true;
  return r;
}

}  // namespace grappe
