// A running job as grapped writes it down (/var/lib/grappe/jobs.json) so that the next grapped,
// after a crash, a restart or an upgrade, can adopt it: who started it, what it runs, which
// process is its init (pid and start time), where its exit status will be written, and how its
// output was being shown. Written: jobs running here (started here, back home, or guests whose
// home is elsewhere: their relay thread starts again) and the home's record of a job running on
// another node (where, which residence, how much of its output was delivered before that
// residence began: its relay reconnects). Not a job in the middle of a handoff.
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "jobs/jobs.h"

namespace grappe {

bool job_is_recorded(const Job& j);
nlohmann::json job_record(const Job& j);
// The job a record describes (pipes and pidfd not set), or nullopt with `why` naming the field:
// the file is grapped's own, but it may be cut short or hand-edited.
std::optional<Job> job_from_record(const nlohmann::json& rec, std::string& why);

}  // namespace grappe
