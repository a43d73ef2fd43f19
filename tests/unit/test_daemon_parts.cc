#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "daemon/api_commands.h"
#include "daemon/api_server.h"
#include "cli/api_client.h"
#include "daemon/config.h"
#include "balance/load.h"
#include "balance/speed.h"

namespace fs = std::filesystem;
using namespace grappe;

TEST_CASE("grapped.toml: defaults, overrides, and errors naming the key") {
  auto d = parse_daemon_config("", "g.toml");
  CHECK(d.group == "239.255.71.82");
  CHECK(d.port == 7423);
  CHECK(d.broadcast);
  auto c = parse_daemon_config("[discovery]\ngroup = \"239.1.2.3\"\nport = 9000\nbroadcast = false\ninterfaces = [\"eth0\"]\n"
                               "[node]\nspeed = 1234\n[cluster]\nname = \"lab\"\n", "g.toml");
  CHECK(c.group == "239.1.2.3");
  CHECK(c.port == 9000);
  CHECK_FALSE(c.broadcast);
  CHECK(c.interfaces == std::vector<std::string>{"eth0"});
  CHECK(c.speed == 1234);
  CHECK(c.cluster == "lab");
  CHECK_THROWS_WITH(parse_daemon_config("[discovery]\ngrup = \"x\"\n", "g.toml"), doctest::Contains("unknown key discovery.grup"));
  CHECK_THROWS_WITH(parse_daemon_config("[discovery]\ngroup = \"10.0.0.1\"\n", "g.toml"), doctest::Contains("not an IPv4 multicast"));
  CHECK_THROWS_WITH(parse_daemon_config("[discovery]\nport = 70000\n", "g.toml"), doctest::Contains("g.toml line 2"));
  CHECK_THROWS_WITH(parse_daemon_config("[disco\n", "g.toml"), doctest::Contains("cannot parse g.toml"));
  CHECK(d.precopy_min_mb == 32);
  CHECK(parse_daemon_config("[migration]\nprecopy_min_mb = 0\n", "g.toml").precopy_min_mb == 0);
  CHECK_THROWS_WITH(parse_daemon_config("[migration]\nprecopy_min_mb = -1\n", "g.toml"),
                    doctest::Contains("migration.precopy_min_mb out of range"));
}

TEST_CASE("load model: jobs count by demand at once, other work by the CPU it uses") {
  LoadModel m;
  double t = 0, busy = 0;
  std::map<std::string, LoadModel::JobSample> jobs;
  // Every 0.5 s: each job in `runnable` runs for `share` of the time; other work uses `other` CPUs.
  auto tick = [&](std::vector<std::string> runnable, double share, double other) {
    std::map<std::string, LoadModel::JobSample> next;
    for (const auto& id : runnable) next[id] = {1, jobs[id].cpu_s + share * 0.5};
    jobs = next;
    busy += (share * static_cast<double>(runnable.size()) + other) * 0.5;
    m.sample(t += 0.5, busy, jobs);
  };
  for (int i = 0; i < 60; ++i) tick({"a", "b", "c", "d"}, 0.24, 0.04);  // 4 CPU-bound jobs on one CPU
  CHECK(m.value() == doctest::Approx(4.04).epsilon(0.01));
  tick({"a", "b"}, 0.48, 0.04);  // c and d moved away: they stop counting at once
  CHECK(m.value() == doctest::Approx(2.04).epsilon(0.01));
  CHECK(m.demand("c") == 1);  // unknown now: assumed busy
  tick({"a", "b"}, 0.1, 0.8);  // a burst of other work (a migration's CRIU) for half a second
  CHECK(m.value() < 2.2);
  for (int i = 0; i < 80; ++i) tick({"a", "b"}, 0.35, 0.3);  // a steady daemon using 30% does count
  CHECK(m.value() == doctest::Approx(2.3).epsilon(0.03));
  // A job runnable in half the samples (it sleeps half the time) converges to about 0.5.
  LoadModel h;
  for (int i = 0; i < 200; ++i) h.sample(i * 0.5, i * 0.1, {{"s", {i % 2, i * 0.1}}});
  CHECK(h.demand("s") == doctest::Approx(0.5).epsilon(0.15));
  CHECK(h.background() < 0.01);
}

TEST_CASE("system sampling from a /proc tree") {
  fs::path p = fs::temp_directory_path() / "grappe-fakeproc";
  fs::create_directories(p);
  std::ofstream(p / "stat") << "cpu  100 0 100 500 0 0 0 0\ncpu0 1 2 3\ncpu1 1 2 3\ncpu2 1 2 3\nprocs_running 5\nprocs_blocked 0\n";
  std::ofstream(p / "meminfo") << "MemTotal:       2048000 kB\nMemFree:         100 kB\nMemAvailable:    1024000 kB\n";
  auto s = read_system(p.string());
  CHECK(s.cpus == 3);
  CHECK(s.runnable == 4);  // the sampler itself does not count
  CHECK(s.busy_s == doctest::Approx(200.0 / static_cast<double>(::sysconf(_SC_CLK_TCK))));
  CHECK(s.mem_total_mb == 2000);
  CHECK(s.mem_free_mb == 1000);
  fs::remove_all(p);
  CHECK(calibrate_speed() > 0);
}

TEST_CASE("the local API answers nodes and status, and refuses bad requests") {
  NodeId self{};
  self[0] = 1;
  Membership mb(self, "me", 7423, MembershipConfig{}, 1, 5, 3);
  DaemonInfo info;
  info.cluster = "lab";
  DaemonCounters c;
  c.rejected["bad signature"] = 2;
  ApiParts parts;
  parts.nodes = [&](double now) { return nodes_reply(mb, now); };
  parts.status = [&](double now) { return status_reply(mb, info, c, now); };
  ApiRouter api = make_api_router(parts);
  auto nodes = api.route(R"({"v":1,"cmd":"nodes"})", Caller{}, 10).body;
  CHECK(nodes["ok"] == true);
  CHECK(nodes["nodes"].size() == 1);
  CHECK(nodes["nodes"][0]["name"] == "me");
  CHECK(nodes["nodes"][0]["number"] == 3);
  auto st = api.route(R"({"v":1,"cmd":"status"})", Caller{}, 10).body;
  CHECK(st["cluster"] == "lab");
  CHECK(st["size"] == 1);
  CHECK(st["packets"]["rejected"] == 2);
  CHECK(api.route("not json", Caller{}, 0).body["ok"] == false);
  CHECK(api.route(R"({"v":2,"cmd":"nodes"})", Caller{}, 0).body["error"].get<std::string>().find("v1") != std::string::npos);
  CHECK(api.route(R"({"v":1,"cmd":"reboot"})", Caller{}, 0).body["error"].get<std::string>().find("unknown command") != std::string::npos);
  CHECK_THROWS_WITH(api_call("/nonexistent/grapped.sock", {{"v", 1}, {"cmd", "nodes"}}), doctest::Contains("cannot reach grapped"));
}
