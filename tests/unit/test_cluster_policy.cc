// The cluster-wide admission policy (boot/cluster_policy.h): newest generation wins, malformed
// settings are ignored, it survives in admin.json and travels in load entries; `grappe boot-server
// admission` is root's; and `grappe nodes`' pending section (daemon add_pending, cli pending_view).
#include <unistd.h>

#include <filesystem>

#include <doctest/doctest.h>

#include "balance/node_admin.h"
#include "boot/cluster_policy.h"
#include "cli/pending_view.h"
#include "daemon/admin_commands.h"
#include "daemon/api_server.h"
#include "membership/wire.h"

using namespace grappe;

TEST_CASE("cluster policy: each setting is a newer generation; the newest wins; malformed ones are ignored") {
  AdmitPolicy p;
  CHECK_FALSE(policy_of_setting(0, p));  // never set
  uint32_t s1 = 0;
  REQUIRE(next_policy_setting(0, AdmitPolicy::Ask, s1));
  CHECK(policy_of_setting(s1, p));
  CHECK(p == AdmitPolicy::Ask);
  uint32_t s2 = 0;
  REQUIRE(next_policy_setting(s1, AdmitPolicy::Auto, s2));
  CHECK(policy_of_setting(s2, p));
  CHECK(p == AdmitPolicy::Auto);
  CHECK(s2 > s1);
  CHECK(newer_policy_setting(s1, 0));   // any setting beats none
  CHECK(newer_policy_setting(s2, s1));  // newer generation
  CHECK_FALSE(newer_policy_setting(s1, s2));
  CHECK_FALSE(newer_policy_setting(s2, s2));
  CHECK_FALSE(newer_policy_setting(0, s1));
  // Malformed: a generation with policy code 0 names nothing and never wins, however high.
  CHECK_FALSE(policy_of_setting(0xfffffffcu, p));
  CHECK_FALSE(newer_policy_setting(0xfffffffcu, s1));
  CHECK_FALSE(newer_policy_setting(0x4u, 0));
  // Same generation set on two nodes at once: the higher value wins everywhere (ask over auto).
  uint32_t a = 0, b = 0;
  next_policy_setting(s1, AdmitPolicy::Auto, a);
  next_policy_setting(s1, AdmitPolicy::Ask, b);
  CHECK(newer_policy_setting(b, a));
  CHECK_FALSE(newer_policy_setting(a, b));
  // The last generation cannot be bumped: refused, not wrapped round to an old one.
  uint32_t last = 0xffffffffu, out = 0;
  CHECK_FALSE(next_policy_setting(last, AdmitPolicy::Auto, out));
}

TEST_CASE("cluster policy: the local default until the cluster sets one, and where it came from") {
  auto e = effective_policy(0, AdmitPolicy::Listed);
  CHECK(e.policy == AdmitPolicy::Listed);
  CHECK(e.from.find("grapped.toml") != std::string::npos);
  uint32_t s = 0;
  next_policy_setting(0, AdmitPolicy::Ask, s);
  e = effective_policy(s, AdmitPolicy::Listed);
  CHECK(e.policy == AdmitPolicy::Ask);
  CHECK(e.from.find("cluster") == 0);
  CHECK(effective_policy(8, AdmitPolicy::Auto).policy == AdmitPolicy::Auto);  // malformed: local default
}

TEST_CASE("cluster policy: kept in admin.json (type-checked) and carried in every load entry") {
  NodeAdmin a;
  next_policy_setting(0, AdmitPolicy::Ask, a.admission);
  CHECK(NodeAdmin::from_json(a.to_json()).admission == a.admission);
  CHECK_THROWS_WITH_AS(NodeAdmin::from_json({{"admission", "ask"}}), doctest::Contains("\"admission\" must be a whole number"),
                       std::runtime_error);
  CHECK_THROWS_AS(NodeAdmin::from_json({{"admission", -1}}), std::runtime_error);
  CHECK_THROWS_AS(NodeAdmin::from_json({{"admission", 1ull << 40}}), std::runtime_error);
  CHECK(NodeAdmin::from_json(nlohmann::json::object()).admission == 0);

  ClusterKey key{};
  key.fill(3);
  Message m;
  m.type = MsgType::Load;
  m.nonce = 7;
  LoadInfo l;
  l.version = 2;
  l.admission = a.admission;
  m.loads.push_back(l);
  auto bytes = encode(m, key);
  REQUIRE(!bytes.empty());
  DecodeError err;
  auto back = decode(bytes.data(), bytes.size(), key, err);
  REQUIRE(back);
  CHECK(back->loads.at(0).admission == a.admission);
  bytes.pop_back();  // truncated: refused whole, nothing adopted from it
  CHECK_FALSE(decode(bytes.data(), bytes.size(), key, err));
}

namespace {

struct AdminFixture {
  std::string dir = std::filesystem::temp_directory_path() / ("grappe-policy-" + std::to_string(::getpid()));
  NodeAdmin settings;
  JobTable jobs;
  BalanceLoop balance;
  std::vector<std::string> logged;
  AdminCommands cmds{[this] {
    std::filesystem::create_directories(dir);
    AdminEnv e;
    e.admin = &settings;
    e.file = dir + "/admin.json";
    e.jobs = &jobs;
    e.balance = &balance;
    e.move = [](const std::string&, const std::string&, const std::string&) { return std::string(); };
    e.log = [this](const std::string& s) { logged.push_back(s); };
    e.local_policy = AdmitPolicy::Listed;
    return e;
  }()};
  ~AdminFixture() { std::filesystem::remove_all(dir); }
};

Caller as(uid_t uid) {
  Caller c;
  c.uid = uid;
  return c;
}

}  // namespace

TEST_CASE("grappe boot-server admission: root only, a known policy, saved, shown with its source") {
  AdminFixture a;
  auto st = a.cmds.boot("status", "", as(1000), nullptr);
  CHECK(st["admission_policy"]["policy"] == "listed");
  CHECK(st["admission_policy"]["from"].get<std::string>().find("grapped.toml") != std::string::npos);
  CHECK(a.cmds.boot("admission", "ask", as(1000), nullptr)["error"].get<std::string>().find("only root") != std::string::npos);
  CHECK(a.cmds.boot("admission", "open", as(0), nullptr)["error"].get<std::string>().find("'open' is not a policy") !=
        std::string::npos);
  CHECK(a.settings.admission == 0);
  auto r = a.cmds.boot("admission", "ask", as(0), nullptr);
  CHECK(r["ok"] == true);
  CHECK(r["admission_policy"]["policy"] == "ask");
  CHECK(r["admission_policy"]["from"].get<std::string>().find("cluster") == 0);
  CHECK(load_node_admin(a.dir + "/admin.json").admission == a.settings.admission);
  CHECK(a.logged.back().find("admin: boot-server admission ask by uid 0") == 0);
  const uint32_t first = a.settings.admission;
  a.cmds.boot("admission", "auto", as(0), nullptr);
  CHECK(newer_policy_setting(a.settings.admission, first));  // a second setting is newer still
}

TEST_CASE("grappe nodes: the serving node lists the PCs waiting; the others say where to look") {
  nlohmann::json boot = {{"enabled", true},
                         {"role", "serving"},
                         {"admission",
                          {{"policy", "ask"},
                           {"pending",
                            {{{"mac", "52:54:00:00:00:01"}, {"address", "10.71.0.50"}, {"key", "0123456789ab"}, {"waiting_s", 42}},
                             {{"mac", 7}},            // malformed: skipped
                             "junk",                  // malformed: skipped
                             {{"mac", "52:54:00:00:00:02"}, {"waiting_s", "long"}}}}}}};
  nlohmann::json reply = {{"nodes", nlohmann::json::array({{{"name", "n1"}, {"state", "alive"}, {"number", 1}}})}};
  add_pending(reply, boot, "n1");
  REQUIRE(reply["pending"].size() == 2);
  CHECK(reply["pending"][0]["admit"] == "grappe admit 52:54:00:00:00:01");
  CHECK(reply["pending"][1]["waiting_s"] == 0);
  CHECK(reply["pending_server"] == "n1");
  const std::string t = pending_text(reply);
  CHECK(t.find("pending: 2 PC(s) waiting to join on n1") != std::string::npos);
  const std::string line1 = t.substr(t.find("52:54:00:00:00:01"), t.find('\n', t.find("52:54:00:00:00:01")) - t.find("52:54:00:00:00:01"));
  CHECK(line1.find("10.71.0.50") != std::string::npos);
  CHECK(line1.find("0123456789ab") != std::string::npos);
  CHECK(line1.find(" 42s ") != std::string::npos);
  CHECK(line1.find("sudo grappe admit 52:54:00:00:00:01") != std::string::npos);
  CHECK(t.find("52:54:00:00:00:02 ?") != std::string::npos);
  auto js = nodes_json(reply);
  REQUIRE(js.size() == 3);
  CHECK(js[0]["name"] == "n1");
  CHECK(js[1]["state"] == "pending");
  CHECK(js[1]["mac"] == "52:54:00:00:00:01");
  CHECK(js[1]["waiting_s"] == 42);
  CHECK(js[1]["address"] == "10.71.0.50");
  CHECK(js[1]["key"] == "0123456789ab");

  // Another node under ask: it names the serving node; under auto, nothing.
  nlohmann::json other = {{"nodes", nlohmann::json::array()}};
  add_pending(other, {{"enabled", true}, {"role", "standby"}, {"founder", "node 1 (n1)"},
                      {"admission_policy", {{"policy", "ask"}}}}, "n2");
  CHECK(other["pending_on"] == "node 1 (n1)");
  CHECK(pending_text(other).find("listed on node 1 (n1)") != std::string::npos);
  nlohmann::json quiet = {{"nodes", nlohmann::json::array()}};
  add_pending(quiet, {{"enabled", true}, {"role", "standby"}, {"founder", "node 1 (n1)"},
                      {"admission_policy", {{"policy", "auto"}}}}, "n2");
  CHECK(pending_text(quiet).empty());
  // Malformed boot statuses never throw.
  for (const nlohmann::json& bad : {nlohmann::json(), nlohmann::json(3), nlohmann::json{{"role", 1}},
                                    nlohmann::json{{"role", "serving"}, {"admission", "x"}},
                                    nlohmann::json{{"role", "serving"}, {"admission", {{"pending", 5}}}},
                                    nlohmann::json{{"enabled", "yes"}, {"admission_policy", {{"policy", "ask"}}}, {"founder", 1}}}) {
    nlohmann::json r = {{"nodes", nlohmann::json::array()}};
    CHECK_NOTHROW(add_pending(r, bad, "n"));
    CHECK_NOTHROW(pending_text(r));
    CHECK_NOTHROW(nodes_json(r));
  }
  CHECK(nodes_json(nlohmann::json("junk")).empty());
  CHECK(pending_text(nlohmann::json{{"pending", {{{"mac", ""}}}}}).empty());
}
