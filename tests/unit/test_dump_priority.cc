#include <doctest/doctest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "migration/dump_priority.h"

using namespace grappe;
namespace fs = std::filesystem;

namespace {

// A stat line whose field 19 is `nice`; the command name holds spaces and parentheses.
std::string stat_line(int pid, int nice) {
  return std::to_string(pid) + " (my (odd) job) R 1 1 1 0 -1 4194560 100 0 0 0 5 6 0 0 20 " + std::to_string(nice) +
         " 1 0 100 1000 10 18446744073709551615\n";
}

void fake_thread(const fs::path& proc, int pid, int tid, int nice) {
  fs::create_directories(proc / std::to_string(pid) / "task" / std::to_string(tid));
  std::ofstream(proc / std::to_string(pid) / "task" / std::to_string(tid) / "stat") << stat_line(tid, nice);
}

}  // namespace

TEST_CASE("dump priority: one nice value across every thread of a job, or none (fake procfs)") {
  fs::path proc = fs::temp_directory_path() / ("grappe-nice-" + std::to_string(::getpid()));
  fs::remove_all(proc);
  fake_thread(proc, 7, 7, 5);
  fake_thread(proc, 7, 8, 5);
  fake_thread(proc, 9, 9, 5);
  CHECK(common_nice(proc.string(), {7, 9}) == 5);
  fake_thread(proc, 9, 10, 0);  // one thread reniced on its own
  CHECK_FALSE(common_nice(proc.string(), {7, 9}).has_value());
  CHECK(common_nice(proc.string(), {7}) == 5);
  CHECK_FALSE(common_nice(proc.string(), {7, 11}).has_value());  // a process gone
  CHECK_FALSE(common_nice(proc.string(), {}).has_value());
  std::ofstream(proc / "7/task/8/stat") << "8 (truncated";
  CHECK_FALSE(common_nice(proc.string(), {7}).has_value());

  std::set<std::pair<pid_t, int>> calls;
  auto record = [&](pid_t tid, int nice) { return calls.insert({tid, nice}).second; };
  CHECK(set_job_nice(proc.string(), {7, 9}, kDumpNice, record) == 4);
  CHECK(calls == std::set<std::pair<pid_t, int>>{{7, -10}, {8, -10}, {9, -10}, {10, -10}});
  CHECK(set_job_nice(proc.string(), {7}, 0, [](pid_t, int) { return false; }) == 0);  // refused: counted as not set
  fs::remove_all(proc);
}

TEST_CASE("dump priority: a live child process, read and reniced through /proc") {
  pid_t kid = ::fork();
  REQUIRE(kid >= 0);
  if (kid == 0) {
    ::pause();
    _exit(0);
  }
  const int mine = ::getpriority(PRIO_PROCESS, 0);
  CHECK(common_nice("/proc", {kid}) == mine);
  const int lower = mine < 19 ? mine + 3 : mine;  // lowering a priority needs no privilege
  CHECK(set_job_nice("/proc", {kid}, lower) == 1);
  CHECK(common_nice("/proc", {kid}) == lower);
  CHECK(common_nice("/proc", {kid, ::getpid()}) == (lower == mine ? std::optional<int>(mine) : std::nullopt));
  ::kill(kid, SIGKILL);
  ::waitpid(kid, nullptr, 0);
}

TEST_CASE("dump priority: the nice value a restored job gets back from its offer") {
  using nlohmann::json;
  CHECK(nice_after_restore(json{{"uid", 1000}, {"nice", 5}}) == 5);
  CHECK(nice_after_restore(json{{"uid", 1000}, {"nice", 0}}) == 0);
  CHECK(nice_after_restore(json{{"uid", 0}, {"nice", -5}}) == -5);      // root may run below 0
  CHECK(nice_after_restore(json{{"uid", 1000}, {"nice", -5}}) == 0);    // a user's job may not
  CHECK(nice_after_restore(json{{"nice", -5}}) == 0);                   // nor one of unknown owner
  CHECK(nice_after_restore(json{{"uid", 0}, {"nice", -99}}) == -20);
  CHECK(nice_after_restore(json{{"uid", 1000}, {"nice", 99}}) == 19);
  CHECK_FALSE(nice_after_restore(json{{"uid", 1000}}).has_value());     // not raised: left as CRIU made it
  CHECK_FALSE(nice_after_restore(json{{"uid", 1000}, {"nice", nullptr}}).has_value());
  CHECK_FALSE(nice_after_restore(json{{"uid", 1000}, {"nice", "0"}}).has_value());
  CHECK_FALSE(nice_after_restore(json::array()).has_value());
}
