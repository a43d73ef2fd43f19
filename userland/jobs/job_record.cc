#include "jobs/job_record.h"

#include "common/json_fields.h"

namespace grappe {

bool job_is_recorded(const Job& j) {
  if (j.state != JobState::Running || j.migrating) return false;
  return j.remote || (j.pid > 0 && j.start_ticks != 0);
}

nlohmann::json job_record(const Job& j) {
  nlohmann::json r = {{"id", j.id},
          {"argv", j.argv},
          {"uid", j.uid},
          {"user", j.user},
          {"home", j.home},
          {"home_number", j.home_number},
          {"pid", j.pid},
          {"start_ticks", j.start_ticks},
          {"status_file", j.status_file},
          {"started", j.started},
          {"arrived", j.arrived},
          {"migrations", j.migrations},
          {"stay", j.stay},
          {"stdin", j.in >= 0},
          {"tty_out", j.tty[1]},
          {"tty_err", j.tty[2]},
          {"moved", j.moved},
          {"attached", j.watcher >= 0 || j.awaiting_caller}};
  if (j.guest) r["guest"] = true;
  if (j.remote) {  // the home's record of a job running elsewhere: no process here
    r["remote"] = true;
    r["node"] = j.node;
    r["out_epoch"] = j.out_epoch;
    r["epoch_base"] = {j.epoch_base[1], j.epoch_base[2]};
    r.erase("pid"), r.erase("start_ticks"), r.erase("status_file"), r.erase("stdin");
  }
  return r;
}

std::optional<Job> job_from_record(const nlohmann::json& rec, std::string& why) {
  Fields f(rec, "job record");
  Job j;
  j.id = f.str("id", "", Need::Required, 64);
  j.argv = f.strings("argv", Need::Required);
  j.uid = static_cast<uid_t>(f.integer("uid", 0, 0, UINT32_MAX - 1, Need::Required));
  j.user = f.str("user", "", Need::Required, 256);
  j.home = f.str("home", "", Need::Required, 256);
  j.home_number = static_cast<uint16_t>(f.integer("home_number", 0, 0, UINT16_MAX));
  j.guest = f.boolean("guest", false);
  j.remote = f.boolean("remote", false);
  const Need proc = j.remote ? Need::Optional : Need::Required;
  j.pid = static_cast<pid_t>(f.integer("pid", -1, 1, INT32_MAX, proc));
  j.start_ticks = static_cast<uint64_t>(f.integer("start_ticks", 0, 1, INT64_MAX, proc));
  j.status_file = f.str("status_file", "", Need::Optional, 4096);
  j.started = f.number("started", 0);
  j.arrived = f.number("arrived", 0);
  j.migrations = static_cast<int>(f.integer("migrations", 0, 0, INT32_MAX));
  j.stay = f.boolean("stay", false);
  j.in_eof = !f.boolean("stdin", false);
  j.tty[1] = f.boolean("tty_out", false);
  j.tty[2] = f.boolean("tty_err", false);
  j.moved = f.str("moved", "", Need::Optional, 4096);
  j.awaiting_caller = f.boolean("attached", false);
  if (j.remote) {
    j.node = f.str("node", "", Need::Required, 256);
    j.out_epoch = static_cast<int>(f.integer("out_epoch", 0, 0, j.migrations));
    nlohmann::json base = f.array("epoch_base");
    for (size_t i = 0; f.ok() && base.is_array() && i < 2; ++i) {
      if (base.size() != 2 || !base[i].is_number_unsigned()) f.fail("\"epoch_base\" must hold two byte counts");
      else j.epoch_base[i + 1] = base[i].get<uint64_t>();
    }
  }
  if (f.ok() && j.guest && j.remote) f.fail("a job cannot be both \"guest\" and \"remote\"");
  if (f.ok() && j.argv.empty()) f.fail("\"argv\" is empty");
  if (!f.ok()) {
    why = f.error();
    return std::nullopt;
  }
  j.adopted = true;
  j.sent_known = false;  // until the caller reattaches with what it has
  if (j.remote) {  // its output comes over the relay, which reconnects on its own
    j.local_epoch = -1;
    j.in_eof = false;
    return j;
  }
  if (!j.guest) j.node = j.home;
  j.local_epoch = j.out_epoch = j.migrations;
  return j;
}

}  // namespace grappe
