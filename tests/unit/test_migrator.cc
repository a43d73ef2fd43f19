// Admission (CPU flags) and the Migrator's own checks: the local migrate command's field types,
// and the sweep of image leftovers when it starts.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <doctest/doctest.h>

#include "migration/admission.h"
#include "migration/migrator.h"

using namespace grappe;
namespace fs = std::filesystem;

TEST_CASE("migration admission: the target must have every CPU feature of the source") {
  const std::string cpuinfo =
      "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx2 aes\nbugs\t\t: none\n"
      "processor\t: 1\nflags\t\t: fpu sse2 avx2 aes\n";
  auto have = cpu_flags(cpuinfo);
  CHECK(have == std::vector<std::string>{"aes", "avx2", "fpu", "sse2"});
  CHECK(missing_flags({"fpu", "sse2"}, have).empty());
  CHECK(missing_flags({"fpu", "avx512f", "sse2", "sha_ni"}, have) == std::vector<std::string>{"avx512f", "sha_ni"});
  CHECK(cpu_flags("no flags here\n").empty());
}

namespace {
struct NoSpawn final : Spawner {
  Spawned spawn(const SpawnSpec&) override { return {}; }
};
}  // namespace

TEST_CASE("migrator: the migrate command refuses wrong field types with a reply, never a throw; start-up sweeps leftovers") {
  const fs::path work = fs::temp_directory_path() / ("grappe-migrator-" + std::to_string(::getpid()));
  fs::remove_all(work);
  fs::create_directories(work / "1.3-in");
  fs::create_directories(work / "1.3-out.work");
  std::mutex mu;
  NoSpawn sp;
  JobService js(sp, "/bin/true", "node1");
  std::vector<std::string> logs;
  MigratorEnv env;
  env.mu = &mu;
  env.jobs = &js;
  env.work_dir = work.string();
  env.log = [&](const std::string& s) { logs.push_back(s); };
  env.resolve = [](const std::string&) { return std::optional<PeerAddr>(); };
  Migrator m(env, [](std::string& why) -> std::unique_ptr<Checkpointer> {
    why = "no CRIU in unit tests";
    return nullptr;
  });
  auto checked = [&] {  // the CRIU check runs on its own thread
    std::lock_guard<std::mutex> l(mu);
    return m.unavailable() == "no CRIU in unit tests";
  };
  for (int i = 0; i < 500 && !checked(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(checked());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the thread counts itself out after the lock
  CHECK(!fs::exists(work / "1.3-in"));
  CHECK(!fs::exists(work / "1.3-out.work"));
  Caller who;
  std::lock_guard<std::mutex> l(mu);
  for (const auto& [req, error] : std::vector<std::pair<nlohmann::json, std::string>>{
           {{{"job", 5}, {"to", "node2"}}, "migrate: \"job\" must be a string"},
           {{{"job", "1.1"}, {"to", nullptr}}, "migrate: \"to\" is missing"},
           {{{"job", "1.1"}, {"to", "node2"}, {"precopy", "yes"}}, "migrate: \"precopy\" must be true or false"},
           {"migrate", "migrate: expected a JSON object"},
           {{{"job", "1.1"}, {"to", "node2"}}, "migrate: no job 1.1 here"}}) {
    nlohmann::json r;
    CHECK_NOTHROW(r = m.request(req, who));
    CHECK(r.value("ok", true) == false);
    CHECK(r.value("error", "").rfind(error, 0) == 0);
  }
  fs::remove_all(work);
}
