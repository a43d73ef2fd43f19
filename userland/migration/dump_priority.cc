#include "migration/dump_priority.h"

#include <sys/resource.h>

#include <algorithm>
#include <filesystem>

#include "jobs/job_inspect.h"
#include "common/text_file.h"

namespace grappe {
namespace fs = std::filesystem;
namespace {

std::vector<pid_t> threads_of(const std::string& proc, pid_t pid) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(proc + "/" + std::to_string(pid) + "/task", ec)) {
    const std::string name = e.path().filename().string();
    if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) out.push_back(std::stoi(name));
  }
  return out;
}

// Field 19 (nice) of a stat line.
std::optional<int> nice_of(const std::string& stat) {
  const auto f = stat_fields(stat);
  if (f.size() <= 16) return std::nullopt;
  try {
    return std::stoi(f[16]);
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace

bool set_thread_nice(pid_t tid, int nice) { return ::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), nice) == 0; }

std::optional<int> common_nice(const std::string& proc, const std::vector<pid_t>& pids) {
  std::optional<int> common;
  for (pid_t p : pids) {
    const auto tids = threads_of(proc, p);
    if (tids.empty()) return std::nullopt;
    for (pid_t t : tids) {
      auto n = nice_of(read_text(proc + "/" + std::to_string(p) + "/task/" + std::to_string(t) + "/stat"));
      if (!n || (common && *common != *n)) return std::nullopt;
      common = n;
    }
  }
  return common;
}

int set_job_nice(const std::string& proc, const std::vector<pid_t>& pids, int nice, const NiceSetter& set) {
  int n = 0;
  for (pid_t p : pids)
    for (pid_t t : threads_of(proc, p)) n += set(t, nice);
  return n;
}

std::optional<int> nice_after_restore(const nlohmann::json& offer) {
  const auto nice = offer.find("nice");
  if (!offer.is_object() || nice == offer.end() || !nice->is_number_integer()) return std::nullopt;
  const auto uid = offer.find("uid");
  const int64_t floor = uid != offer.end() && uid->is_number_integer() && uid->get<int64_t>() == 0 ? -20 : 0;
  return static_cast<int>(std::clamp<int64_t>(nice->get<int64_t>(), floor, 19));
}

}  // namespace grappe
