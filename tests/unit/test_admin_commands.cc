// `grappe node` and `grappe boot-server` over a job table and a fake move: root only, saved before
// they take effect, expel sends the guests home at once and opens the window for the rest.
#include <unistd.h>

#include <filesystem>

#include <doctest/doctest.h>

#include "daemon/admin_commands.h"

using namespace grappe;

namespace {

struct Admin {
  std::string dir = std::filesystem::temp_directory_path() / ("grappe-admin-" + std::to_string(::getpid()));
  NodeAdmin settings;
  JobTable jobs;
  BalanceLoop balance;
  std::vector<std::string> moves, logged;
  AdminCommands cmds{[this] {
    std::filesystem::create_directories(dir);
    AdminEnv e;
    e.admin = &settings;
    e.file = dir + "/admin.json";
    e.jobs = &jobs;
    e.balance = &balance;
    e.move = [this](const std::string& job, const std::string& to, const std::string& why) {
      moves.push_back(job + ">" + to + " (" + why + ")");
      return std::string();
    };
    e.log = [this](const std::string& s) { logged.push_back(s); };
    return e;
  }()};
  ~Admin() { std::filesystem::remove_all(dir); }
};

Caller user(uid_t uid) { return Caller{uid, uid, 0, 3}; }

}  // namespace

TEST_CASE("admin commands: grappe node is root-only, saved, and expel sends the guests home") {
  Admin a;
  Job g;
  g.id = "3.1", g.home = "n3", g.node = "n1", g.guest = true, g.state = JobState::Running;
  a.jobs.add(g);
  auto r = a.cmds.node("block", "", user(1000), "n1", 5, 900);
  CHECK(r["ok"] == false);
  CHECK(r["error"].get<std::string>().find("node: only root") == 0);
  CHECK(a.settings.flags == 0);
  r = a.cmds.node("speed", "fast", user(0), "n1", 5, 900);
  CHECK(r["ok"] == false);
  r = a.cmds.node("expel", "", user(0), "n1", 5, 900);
  CHECK(r["ok"] == true);
  CHECK(r["flags"] == "block");
  CHECK(r["guests"] == 1);
  CHECK(r["calibrated_speed"] == 900);
  CHECK(r["moving"].size() == 1);
  CHECK(a.moves == std::vector<std::string>{"3.1>n3 (grappe node expel)"});
  CHECK(load_node_admin(a.dir + "/admin.json").flags == a.settings.flags);
  CHECK(a.logged.back().find("admin: node expel by uid 0, 1 job(s) going home") == 0);
  CHECK(a.cmds.node("show", "", user(1000), "n1", 6, 900)["ok"] == true);  // anyone may look
}

TEST_CASE("admin commands: grappe boot-server: status for anyone, enable and disable for root, others refused") {
  Admin a;
  auto st = a.cmds.boot("status", "", user(1000), {{"role", "serving"}});
  CHECK(st["ok"] == true);
  CHECK(st["role"] == "serving");
  CHECK(st["enabled"] == false);
  CHECK(a.cmds.boot("enable", "", user(1000), nullptr)["error"].get<std::string>().find("boot-server: only root") == 0);
  CHECK(a.cmds.boot("enable", "", user(0), nullptr)["enabled"] == true);
  CHECK(load_node_admin(a.dir + "/admin.json").netboot_on());
  CHECK(a.cmds.boot("reboot", "", user(0), nullptr)["error"].get<std::string>().find("unknown operation 'reboot'") != std::string::npos);
}
