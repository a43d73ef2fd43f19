#include "jobs/jobs.h"

#include <sys/eventfd.h>

namespace grappe {

const char* job_state_name(JobState s) {
  switch (s) {
    case JobState::Running: return "running";
    case JobState::Exited: return "exited";
  }
  return "?";
}

void wake_relay(const Job& j) {
  if (j.relay_wake >= 0) ::eventfd_write(j.relay_wake, 1);
}

Job& JobTable::add(Job j) {
  std::string id = j.id;
  return jobs_[id] = std::move(j);
}

Job* JobTable::find(const std::string& id) {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

size_t JobTable::running_here() const {
  size_t n = 0;
  for (const auto& [id, j] : jobs_) n += j.state == JobState::Running && !j.remote;
  return n;
}

size_t JobTable::running() const {
  size_t n = 0;
  for (const auto& [id, j] : jobs_) n += j.state == JobState::Running;
  return n;
}

}  // namespace grappe
