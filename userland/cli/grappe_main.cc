// grappe: the node's command line, the openMosix toolset under one roof. `nodes` is mosmon/showmap;
// `status` is this node and its cluster; `run` is mosrun, `ps` is mps, `kill` signals a job,
// `migrate` is migrate. Each subcommand is a cmd_* function over the parsed Options; the
// add_*_commands functions declare them to CLI11.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/api_client.h"
#include "cli/home_init.h"
#include "cli/home_view.h"
#include "common/command_runner.h"
#include "common/text_file.h"
#include "cli/pending_view.h"
#include "common/console_echo.h"
#include "common/node_info.h"
#include "cli/run_client.h"

using namespace grappe;

namespace {

std::string mem_text(const nlohmann::json& n) {
  if (!n.contains("mem_total_mb")) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.1f/%.1fG", n["mem_free_mb"].get<double>() / 1024, n["mem_total_mb"].get<double>() / 1024);
  return b;
}

void print_nodes(const nlohmann::json& reply) {
  std::printf("%-4s %-22s %-16s %-8s %4s %7s %6s %-12s %4s %6s  %s\n", "NUM", "NAME", "ADDRESS", "STATE", "CPUS", "SPEED",
              "LOAD", "MEM FREE", "JOBS", "AGE", "FLAGS");
  auto nodes = reply["nodes"];
  std::sort(nodes.begin(), nodes.end(), [](const auto& a, const auto& b) { return a["number"] < b["number"]; });
  for (const auto& n : nodes) {
    bool load = n.contains("cpus");
    std::string num = n["number"].get<int>() ? std::to_string(n["number"].get<int>()) : "-";
    std::string name = n["name"].get<std::string>() + (n["self"].get<bool>() ? "*" : "");
    std::printf("%-4s %-22s %-16s %-8s %4s %7s %6s %-12s %4s %6s  %s\n", num.c_str(), name.c_str(),
                n["address"].get<std::string>().c_str(), n["state"].get<std::string>().c_str(),
                load ? std::to_string(n["cpus"].get<int>()).c_str() : "-",
                load ? std::to_string(n["speed"].get<int>()).c_str() : "-",
                load ? (std::to_string(n["load"].get<double>()).substr(0, 4)).c_str() : "-", mem_text(n).c_str(),
                load ? std::to_string(n["jobs"].get<int>()).c_str() : "-",
                load ? (std::to_string(n["info_age_s"].get<double>()).substr(0, 4) + "s").c_str() : "-",
                n.value("flags_text", std::string("-")).c_str());
  }
}

void print_jobs(const nlohmann::json& jobs) {
  std::printf("%-8s %-10s %-14s %-14s %-8s %4s %8s %9s  %s\n", "JOB", "USER", "HOME", "NODE", "STATE", "MIG", "CPU", "RSS",
              "COMMAND");
  for (const auto& j : jobs) {
    std::string cmd = j["command"].get<std::string>();
    if (cmd.size() > 40) cmd = cmd.substr(0, 37) + "...";
    bool running = j.contains("cpu_s");
    char cpu[16] = "-", rss[16] = "-";
    if (running) {
      std::snprintf(cpu, sizeof cpu, "%.1fs", j["cpu_s"].get<double>());
      std::snprintf(rss, sizeof rss, "%.1fM", j["rss_kb"].get<double>() / 1024);
    }
    std::string state = j["state"].get<std::string>();
    if (!running && j.contains("exit_code")) state += "(" + std::to_string(j["exit_code"].get<int>()) + ")";
    std::printf("%-8s %-10s %-14s %-14s %-8s %4d %8s %9s  %s\n", j["id"].get<std::string>().c_str(),
                j["user"].get<std::string>().c_str(), j["home"].get<std::string>().c_str(),
                j["node"].get<std::string>().c_str(), state.c_str(), j["migrations"].get<int>(), cpu, rss, cmd.c_str());
    if (running && !j["why"].get<std::string>().empty())
      std::printf("%-8s cannot move: %s\n", "", j["why"].get<std::string>().c_str());
    if (j.contains("stays")) std::printf("%-8s stays: %s\n", "", j["stays"].get<std::string>().c_str());
    if (j.contains("moved")) std::printf("%-8s last moved %s\n", "", j["moved"].get<std::string>().c_str());
  }
}

int signal_number(const std::string& s) {
  static const std::pair<const char*, int> names[] = {{"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
                                                      {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM},
                                                      {"CONT", SIGCONT}, {"STOP", SIGSTOP}};
  std::string n = s.rfind("SIG", 0) == 0 ? s.substr(3) : s;
  for (const auto& [name, num] : names)
    if (n == name) return num;
  try {
    size_t used = 0;
    int v = std::stoi(n, &used);
    if (used == n.size() && v > 0 && v < 65) return v;
  } catch (...) {
  }
  return -1;
}

// One line (two with an error) for `grappe status` and `grappe boot-server status`.
std::string boot_text(const nlohmann::json& b) {
  const std::string role = b.value("role", std::string("?"));
  std::string t;
  if (!b.value("enabled", false)) t = "network boot off for the cluster (grappe boot-server enable turns it on)";
  else if (role == "serving")
    t = "serving network boot: " + b.value("mode", std::string()) + " DHCP on " + b.value("interface", std::string()) + " (" +
        b.value("why", std::string()) + "), iPXE script " + b.value("url", std::string()) + ", " +
        std::to_string(b.value("http_requests", 0)) + " HTTP requests";
  else if (role == "standby") t = "network boot served by " + b.value("founder", std::string("the founder"));
  else t = "network boot on; this node: " + role;
  if (!b.value("error", std::string()).empty()) t += "\n          last error: " + b["error"].get<std::string>();
  if (!b.value("nodes_error", std::string()).empty()) t += "\n          per-PC settings ignored: " + b["nodes_error"].get<std::string>();
  if (b.contains("admission_policy") && b["admission_policy"].is_object())
    t += "\n          admission policy " + b["admission_policy"].value("policy", std::string("?")) + ", from " +
         b["admission_policy"].value("from", std::string("?"));
  if (b.contains("admission") && b["admission"].is_object()) {
    const auto& a = b["admission"];
    t += "\n          admission: policy " + a.value("policy", std::string("?")) + ", " + std::to_string(a.value("admitted", 0)) +
         " admitted, " + std::to_string(a.value("refused", 0)) + " refused";
    if (!a.value("last", std::string()).empty()) t += "; last: " + a["last"].get<std::string>();
    if (a.contains("pending") && a["pending"].is_array())
      for (const auto& p : a["pending"])
        t += "\n          waiting to join: " + p.value("mac", std::string("?")) + " (" + p.value("address", std::string("?")) +
             ", key " + p.value("key", std::string("?")) + ") for " + std::to_string(p.value("waiting_s", 0)) + " s: grappe admit " + p.value("mac", std::string("?")) +
             " or grappe deny " + p.value("mac", std::string("?"));
  }
  return t;
}

// What the command line gave; one field per option, shared by the commands that take it.
struct Options {
  std::string root = "/", socket = "/run/grappe/grapped.sock";
  bool json = false;                         // status, nodes, ps, boot-server
  bool watch = false;                        // nodes
  double interval = 1.0;                     // nodes --watch
  RunOptions run;                            // run
  bool no_stdin = false;                     // run
  bool all = false;                          // ps
  std::string job_id;                        // kill, migrate
  std::string sig_name = "TERM";             // kill
  std::string to;                            // migrate
  bool precopy = false, no_precopy = false;  // migrate
  std::string node_op, node_value;           // node
  std::string cluster_op;                    // cluster
  std::string boot_op = "status";            // boot-server
  std::string boot_value;                    // boot-server admission POLICY
  int boot_wait = 0;                         // boot-server --wait
  std::string admit_mac;                     // admit, deny
  std::string home_dev;                      // home init
  uint64_t home_size = 0;                    // home init --size
  bool force = false, yes = false;           // home init
  bool shutdown = false;                     // home hand-over
};

// One subcommand: where CLI11 records that it was chosen, and what runs it.
struct Command {
  CLI::App* app;
  std::function<int(const Options&)> run;
};

// A command that needs grapped: its errors (grapped unreachable, a refusal) print as
// "grappe: ..." and exit 2.
std::function<int(const Options&)> needs_daemon(int (*cmd)(const Options&)) {
  return [cmd](const Options& o) {
    try {
      return cmd(o);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "grappe: %s\n", e.what());
      return 2;
    }
  };
}

int cmd_ready(const Options& o) {
  auto info = read_node_info(o.root);
  // stdout is the journal and /dev/console (grappe-ready.service); the serial port too, when the
  // screen is the primary console.
  std::printf("%s\n", ready_line(info).c_str());
  std::fflush(stdout);
  echo_to_other_consoles(ready_line(info), o.root);
  return info.hostname.empty() || info.machine_id.empty() ? 1 : 0;
}

int cmd_run(const Options& o) {
  RunOptions ro = o.run;
  ro.forward_stdin = !o.no_stdin;
  return run_job(o.socket, ro);
}

int cmd_ps(const Options& o) {
  auto reply = api_call(o.socket, {{"v", kApiVersion}, {"cmd", "ps"}, {"all", o.all}});
  if (o.json) std::printf("%s\n", reply["jobs"].dump(2).c_str());
  else print_jobs(reply["jobs"]);
  return 0;
}

int cmd_kill(const Options& o) {
  int sig = signal_number(o.sig_name);
  if (sig < 0) {
    std::fprintf(stderr, "grappe kill: '%s' is not a signal (use a name like TERM, INT, KILL or a number 1-64)\n",
                 o.sig_name.c_str());
    return 2;
  }
  api_call(o.socket, {{"v", kApiVersion}, {"cmd", "kill"}, {"job", o.job_id}, {"sig", sig}});
  return 0;
}

int cmd_migrate(const Options& o) {
  // A handoff under TCG can take minutes for a big job: wait for its answer.
  nlohmann::json req = {{"v", kApiVersion}, {"cmd", "migrate"}, {"job", o.job_id}, {"to", o.to}};
  if (o.precopy || o.no_precopy) req["precopy"] = o.precopy;
  auto reply = api_call(o.socket, req, 900000);
  std::printf("job %s now runs on %s", o.job_id.c_str(), reply.value("node", std::string("?")).c_str());
  if (reply.contains("freeze_s"))
    std::printf(" (frozen %.2f s, of which %.2f s dumping; %.2f MB of images", reply["freeze_s"].get<double>(),
                reply.value("dump_s", 0.0), reply.value("bytes", 0.0) / 1048576);
  if (reply.value("precopy_rounds", 0) > 0)
    std::printf(", after %d pre-copy round(s) of %.1f MB", reply["precopy_rounds"].get<int>(),
                reply.value("precopy_bytes", 0.0) / 1048576);
  if (reply.contains("freeze_s")) std::printf(")");
  std::printf("\n");
  if (!reply.value("precopy_note", std::string()).empty())
    std::printf("pre-copy: %s\n", reply["precopy_note"].get<std::string>().c_str());
  return 0;
}

int cmd_boot_server(const Options& o) {
  if ((o.boot_op == "admission") == o.boot_value.empty()) {
    std::fprintf(stderr, "grappe boot-server: %s\n",
                 o.boot_op == "admission" ? "give the policy: grappe boot-server admission auto|listed|ask"
                                          : ("'" + o.boot_op + "' takes no value (only admission does)").c_str());
    return 2;
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(o.boot_wait);
  nlohmann::json r;
  for (;;) {
    try {
      nlohmann::json req = {{"v", kApiVersion}, {"cmd", "boot-server"}, {"op", o.boot_op}};
      if (o.boot_op == "admission") req["value"] = o.boot_value;
      r = api_call(o.socket, req);
      break;
    } catch (const std::runtime_error& e) {  // only "not running yet" is waited for
      if (std::string(e.what()).rfind("cannot reach grapped", 0) != 0 || std::chrono::steady_clock::now() >= until) throw;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
  if (o.json) std::printf("%s\n", r.dump(2).c_str());
  else std::printf("%s\n", boot_text(r).c_str());
  return 0;
}

// `grappe admit|deny MAC`: root's answer for a PC waiting under the `ask` admission policy.
int cmd_admission(const Options& o, const char* op) {
  auto r = api_call(o.socket, {{"v", kApiVersion}, {"cmd", "boot-server"}, {"op", op}, {"value", o.admit_mac}});
  std::printf("%s %s: %s\n", op, o.admit_mac.c_str(),
              std::string(op) == "admit" ? "it gets the cluster key at its next request (within 5 s) and joins"
                                         : "it boots without joining");
  if (o.json) std::printf("%s\n", r.dump(2).c_str());
  return 0;
}
int cmd_admit(const Options& o) { return cmd_admission(o, "admit"); }
int cmd_deny(const Options& o) { return cmd_admission(o, "deny"); }

// `grappe cluster rekey`, `grappe node forget|unforget N`: the answer once the members took the key.
int cmd_rekey(const Options& o, const std::string& op, const std::string& value) {
  auto r = api_call(o.socket, {{"v", kApiVersion}, {"cmd", "cluster"}, {"op", op}, {"value", value}}, 45000);
  if (o.json) return std::printf("%s\n", r.dump(2).c_str()), 0;
  if (op == "forget") std::printf("forgot %s: it is refused from now on\n", value.c_str());
  if (op == "unforget") std::printf("%s may join again (a medium node rejoins by itself; a network-booted one at its next boot)\n", value.c_str());
  std::string reached;
  for (const auto& n : r["reached"]) reached += " " + n.get<std::string>();
  std::printf("cluster key epoch %d in use; members that took it:%s\n", r["epoch"].get<int>(), reached.empty() ? " none (this node is alone)" : reached.c_str());
  for (const auto& m : r["missed"])
    std::printf("not reached: %s (%s): it is out until it rejoins (a node booted from a medium does so by itself; "
                "a network-booted one by rebooting)\n",
                m["node"].get<std::string>().c_str(), m["error"].get<std::string>().c_str());
  return r["missed"].empty() ? 0 : 1;
}

int cmd_cluster(const Options& o) { return cmd_rekey(o, "rekey", ""); }

int cmd_node(const Options& o) {
  if (o.node_op == "forget" || o.node_op == "unforget") {
    if (o.node_value.empty()) {
      std::fprintf(stderr, "grappe node %s: name the node: its number, name, node id or MAC (grappe nodes)\n", o.node_op.c_str());
      return 2;
    }
    return cmd_rekey(o, o.node_op, o.node_value);
  }
  if ((o.node_op == "speed" || o.node_op == "maxguests") && o.node_value.empty()) {
    std::fprintf(stderr, "grappe node %s: give a value, e.g. grappe node %s %s\n", o.node_op.c_str(), o.node_op.c_str(),
                 o.node_op == "speed" ? "1500" : "2");
    return 2;
  }
  auto r = api_call(o.socket, {{"v", kApiVersion}, {"cmd", "node"}, {"op", o.node_op}, {"value", o.node_value}});
  std::printf("flags %s, speed %s, maxguests %s, guests %d\n", r["flags"].get<std::string>().c_str(),
              r["speed"].get<int>() ? std::to_string(r["speed"].get<int>()).c_str()
                                    : ("calibrated " + std::to_string(r["calibrated_speed"].get<int>())).c_str(),
              r["max_guests"].get<int>() < 0 ? "none" : std::to_string(r["max_guests"].get<int>()).c_str(),
              r["guests"].get<int>());
  for (const auto& m : r["moving"])
    std::printf("job %s on %s: %s\n", m["job"].get<std::string>().c_str(), m["from"].get<std::string>().c_str(),
                m["error"].get<std::string>().empty() ? "going home" : m["error"].get<std::string>().c_str());
  return 0;
}

int cmd_nodes(const Options& o) {
  do {
    auto reply = api_call(o.socket, {{"v", kApiVersion}, {"cmd", "nodes"}});
    if (o.watch && !o.json) std::printf("\033[H\033[2J");
    if (o.json) std::printf("%s\n", nodes_json(reply).dump(2).c_str());
    else {
      print_nodes(reply);
      if (reply.contains("home_degraded") && reply["home_degraded"].is_string())
        std::printf("WARNING: %s (grappe home)\n", reply["home_degraded"].get<std::string>().c_str());
      std::printf("%s", pending_text(reply).c_str());
    }
    std::fflush(stdout);
    if (o.watch) std::this_thread::sleep_for(std::chrono::duration<double>(o.interval));
  } while (o.watch);
  return 0;
}

// The part of `grappe status` that grapped answers: home, boot, cluster and health.
void print_cluster_status(const nlohmann::json& daemon) {
  if (daemon.contains("home")) std::printf("%s", home_text(daemon["home"]).c_str());
  if (daemon.contains("boot") && daemon["boot"].is_object()) std::printf("boot      %s\n", boot_text(daemon["boot"]).c_str());
  auto p = daemon["packets"];
  const auto& keys = daemon.contains("keys") && daemon["keys"].is_object() ? daemon["keys"] : nlohmann::json::object();
  std::printf("cluster   %s, %d nodes (%d alive, %d suspect, %d dead or left), key %s epoch %d (%s)%s\n"
              "health    %s: %llu packets accepted, %llu rejected, %llu replays dropped, up %.0f s\n",
              daemon["cluster"].get<std::string>().c_str(), daemon["size"].get<int>(), daemon["alive"].get<int>(),
              daemon["suspect"].get<int>(), daemon["dead"].get<int>(), daemon["key_fingerprint"].get<std::string>().c_str(),
              keys.value("epoch", 0), keys.value("credential", std::string("?")) == "invitation" ? "holds the invitation" : "admitted",
              keys.value("forgotten", 0) ? (", " + std::to_string(keys.value("forgotten", 0)) + " nodes forgotten").c_str() : "",
              daemon["suspect"].get<int>() ? "degraded" : "ok", p["accepted"].get<unsigned long long>(),
              p["rejected"].get<unsigned long long>(), p["replayed"].get<unsigned long long>(),
              daemon["uptime_s"].get<double>());
}

// Works without grapped too: this node's own facts, and exit 1 with the reason it is not reachable.
int cmd_status(const Options& o) {
  auto info = read_node_info(o.root);
  nlohmann::json daemon;
  std::string err;
  try {
    daemon = api_call(o.socket, {{"v", kApiVersion}, {"cmd", "status"}});
  } catch (const std::exception& e) {
    err = e.what();
  }
  if (o.json) {
    auto j = to_json(info);
    if (err.empty()) j["cluster_status"] = daemon;
    else j["daemon_error"] = err;
    std::printf("%s\n", j.dump(2).c_str());
    return err.empty() ? 0 : 1;
  }
  std::printf("node      %s (number %s)\nmachine   %s\nmac       %s\nimage     %s build %s manifest %s (%s)\nkernel    %s\n",
              info.hostname.c_str(), err.empty() ? std::to_string(daemon["self"]["number"].get<int>()).c_str() : "?",
              info.machine_id.c_str(), info.mac.empty() ? "-" : info.mac.c_str(), info.image_name.c_str(),
              info.build_id.c_str(), info.manifest.empty() ? "-" : info.manifest.c_str(), info.medium.c_str(), info.kernel.c_str());
  if (!info.not_admitted.empty()) {
    std::printf("cluster   %s: not a member (%s)\n", info.cluster.c_str(), info.not_admitted.c_str());
    return 1;
  }
  if (!err.empty()) {
    std::printf("cluster   %s (grapped not reachable)\n", info.cluster.c_str());
    std::fprintf(stderr, "grappe: %s\n", err.c_str());
    return 1;
  }
  print_cluster_status(daemon);
  return 0;
}

// `grappe home`: the replicated /home as this node's grapped sees it.
int cmd_home(const Options& o) {
  nlohmann::json daemon = api_call(o.socket, {{"v", kApiVersion}, {"cmd", "status"}});
  const nlohmann::json home = daemon.contains("home") ? daemon["home"] : nlohmann::json();
  if (o.json) return std::printf("%s\n", home.dump(2).c_str()), 0;
  if (!home.is_object()) return std::printf("home      not shared ([home] share = false in /etc/grappe/grapped.toml)\n"), 0;
  std::printf("%s", home_text(home).c_str());
  return 0;
}

// `grappe home hand-over`: asks grapped, then waits until this node no longer serves /home.
int cmd_home_hand_over(const Options& o) {
  nlohmann::json r = api_call(o.socket, {{"v", kApiVersion}, {"cmd", "node"}, {"op", "home-hand-over"}, {"value", o.shutdown ? "kill" : ""}});
  if (!r.value("ok", false)) {
    // At shutdown a node that does not serve /home has nothing to do.
    if (o.shutdown && !r.value("serving", true)) return 0;
    std::fprintf(stderr, "grappe: %s\n", r.value("error", std::string("refused")).c_str());
    return 1;
  }
  std::printf("grappe: handing /home over to its standby...\n");
  std::fflush(stdout);
  for (int i = 0; i < 120; ++i) {
    ::usleep(500000);
    nlohmann::json h = api_call(o.socket, {{"v", kApiVersion}, {"cmd", "status"}}).value("home", nlohmann::json::object());
    if (h.value("role", std::string()) != "server") {
      std::printf("grappe: /home handed over: node %d takes it\n", h.value("server", 0));
      return 0;
    }
    if (h.contains("hand_over")) {
      std::fprintf(stderr, "grappe: /home %s\n", h.value("hand_over", std::string()).c_str());
      return 1;
    }
  }
  std::fprintf(stderr, "grappe: /home not handed over after 60 s (grappe home says why)\n");
  return 1;
}

// `grappe home init DEVICE`: a new GRAPPE-HOME disk, after the checks and a confirmation.
int cmd_home_init(const Options& o) {
  if (::geteuid() != 0) return std::fprintf(stderr, "grappe: home init: only root may erase a disk (try sudo grappe home init %s)\n", o.home_dev.c_str()), 2;
  std::string medium;
  {
    std::istringstream in(read_text("/proc/mounts"));
    for (std::string line; std::getline(in, line);) {
      std::istringstream w(line);
      std::string what, where;
      w >> what >> where;
      if (where == "/run/grappe/medium") medium = what;
    }
  }
  const DiskFacts f = disk_facts(o.home_dev, "/sys/class/block", read_text("/proc/mounts"), medium);
  if (std::string why = home_init_refusal(f, o.force, o.home_size); !why.empty())
    return std::fprintf(stderr, "grappe: home init: %s\n", why.c_str()), 2;
  const std::string what = f.dev + " (" + std::to_string((o.home_size ? o.home_size << 20 : f.bytes) >> 20) + " MB" +
                           (f.model.empty() ? "" : ", " + f.model) + ")";
  if (!o.yes) {
    if (!::isatty(0))
      return std::fprintf(stderr, "grappe: home init: no terminal to confirm on: add --yes to erase %s\n", what.c_str()), 2;
    std::printf("This erases everything on %s and makes it the cluster's /home disk.\nType yes to go on: ", what.c_str());
    std::fflush(stdout);
    std::string answer;
    if (!std::getline(std::cin, answer) || answer != "yes") return std::printf("Nothing was changed.\n"), 1;
  }
  std::printf("grappe: making %s a GRAPPE-HOME disk (ext4)...\n", what.c_str());
  std::fflush(stdout);
  ProcessRunner run;
  if (std::string why = run_checked(run, home_init_mkfs(f.dev, o.home_size), 1800); !why.empty())
    return std::fprintf(stderr, "grappe: home init: %s\n  %s holds no usable GRAPPE-HOME filesystem; run the command again\n", why.c_str(), f.dev.c_str()), 1;
  std::printf("grappe: %s is a GRAPPE-HOME disk. grapped finds it within 10 s: it takes a copy of the cluster's /home\n"
              "  onto it (or serves it, when no node does) and then serves /home from it; grappe home shows the progress.\n",
              f.dev.c_str());
  return 0;
}

// The node's LAN addresses (not loopback, not the members' WireGuard network), for a link that
// another PC's browser can open.
std::vector<std::string> lan_addresses() {
  std::vector<std::string> out;
  ifaddrs* ifs = nullptr;
  if (::getifaddrs(&ifs) != 0) return out;
  for (ifaddrs* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP)) continue;
    if (std::string(i->ifa_name).rfind("grappe", 0) == 0) continue;
    char text[INET_ADDRSTRLEN];
    if (::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, text, sizeof text)) out.push_back(text);
  }
  ::freeifaddrs(ifs);
  // Link-local addresses (169.254/16) last: another PC reaches a routable one more surely.
  std::stable_partition(out.begin(), out.end(), [](const std::string& a) { return a.rfind("169.254.", 0) != 0; });
  return out;
}

int cmd_dashboard(const Options& o) {
  auto reply = api_call(o.socket, {{"v", kApiVersion}, {"cmd", "dashboard"}});
  const std::string token = reply.value("token", "");
  const int port = reply.value("port", 7480);
  std::vector<std::string> hosts = lan_addresses();
  if (hosts.empty()) hosts.push_back("localhost");
  const bool root = reply.value("uid", 1) == 0;
  std::printf("Open this link within 5 minutes; it works once and starts a session that may act on %s:\n  http://%s:%d/#token=%s\n",
              root ? "every job and on this node" : "your own jobs", hosts[0].c_str(), port, token.c_str());
  for (size_t i = 1; i < hosts.size(); ++i) std::printf("  (or http://%s:%d/#token=%s)\n", hosts[i].c_str(), port, token.c_str());
  std::printf("Anyone on the cluster's network may watch at http://%s:%d/ without a link.\n", hosts[0].c_str(), port);
  return 0;
}

// The subcommands' options (CLI11), in the order --help lists them.
std::vector<Command> add_info_commands(CLI::App& app, Options& o) {
  auto* status = app.add_subcommand("status", "this node and its cluster: name, identity, image, cluster size, health");
  status->add_flag("--json", o.json, "machine-readable output");
  auto* home = app.add_subcommand("home", "the shared /home: its server, standby, sync state, backing and space");
  home->add_flag("--json", o.json, "machine-readable output");
  auto* hand = home->add_subcommand("hand-over", "give /home to its standby now (root; a clean poweroff does it by itself)");
  hand->add_flag("--shutdown", o.shutdown, "this node is stopping: kill its processes that hold /home (grappe-home-handover.service)");
  auto* init = home->add_subcommand("init", "erase a disk or partition and make it the cluster's persistent /home (GRAPPE-HOME)");
  init->add_option("device", o.home_dev, "the disk or partition, e.g. /dev/sdb or /dev/sdb1 (lsblk lists them)")->required();
  init->add_option("--size", o.home_size, "MB of the filesystem (default: the whole device); a node standing by in RAM needs that much memory");
  init->add_flag("--force", o.force, "erase a whole disk even though it has partitions");
  init->add_flag("-y,--yes", o.yes, "do not ask for confirmation");
  auto* nodes = app.add_subcommand("nodes", "every node of the cluster with its state and load (mosmon)");
  nodes->add_flag("--json", o.json, "machine-readable output");
  nodes->add_flag("-w,--watch", o.watch, "refresh until interrupted");
  nodes->add_option("--interval", o.interval, "seconds between refreshes with --watch")->capture_default_str();
  auto* ready = app.add_subcommand("ready", "print the node-ready line (used by grappe-ready.service)");
  auto* dash = app.add_subcommand("dashboard", "print a one-time link to the web dashboard that lets your browser act (migrate, kill; root: block, expel)");
  return {{dash, needs_daemon(cmd_dashboard)}, {status, cmd_status}, {hand, needs_daemon(cmd_home_hand_over)}, {init, cmd_home_init}, {home, needs_daemon(cmd_home)}, {nodes, needs_daemon(cmd_nodes)}, {ready, cmd_ready}};
}

std::vector<Command> add_job_commands(CLI::App& app, Options& o) {
  auto* run = app.add_subcommand("run", "run a command as a migratable job (mosrun): grappe run [-d] [--stay] [--node N] -- CMD ARGS...");
  run->add_flag("-d,--detach", o.run.detach, "start it and print its job id; output is dropped");
  run->add_flag("--stay", o.run.stay, "never migrate this job");
  run->add_option("--node", o.run.node, "node number to start it on (default: here)");
  run->add_flag("-n,--no-stdin", o.no_stdin, "give the job /dev/null as stdin instead of forwarding ours");
  run->add_option("command", o.run.argv, "the command and its arguments (put them after --)")->required();
  auto* ps = app.add_subcommand("ps", "jobs: id, command, user, home and current node, state, migrations, CPU, RSS (mps)");
  ps->add_flag("-a,--all", o.all, "every user's jobs, and those that ended in the last 5 minutes");
  ps->add_flag("--json", o.json, "machine-readable output");
  auto* kill = app.add_subcommand("kill", "send a signal to a job (default TERM)");
  kill->add_option("job", o.job_id, "job id, as grappe ps shows it")->required();
  kill->add_option("signal", o.sig_name, "signal name or number (TERM, INT, KILL, HUP, USR1, 9, ...)")->capture_default_str();

  auto* migrate = app.add_subcommand("migrate", "move a running job to another node, or home (openMosix's migrate)");
  migrate->add_option("job", o.job_id, "job id, as grappe ps shows it")->required();
  migrate->add_option("node", o.to, "target node: its number, its name, or 'home'")->required();
  auto* pc = migrate->add_flag("--precopy", o.precopy,
                               "copy the job's memory while it runs first (iterative pre-dumps), to shorten its freeze; "
                               "default: for jobs of [migration] precopy_min_mb or more");
  migrate->add_flag("--no-precopy", o.no_precopy, "freeze the job and copy all its memory at once")->excludes(pc);
  return {{run, cmd_run}, {ps, needs_daemon(cmd_ps)}, {kill, needs_daemon(cmd_kill)}, {migrate, needs_daemon(cmd_migrate)}};
}

std::vector<Command> add_admin_commands(CLI::App& app, Options& o) {
  auto* node = app.add_subcommand("node", "this node's admin settings (mosctl); they persist across grapped restarts");
  node->add_option("setting", o.node_op,
                   "show | block | unblock (refuse guests) | lstay | nolstay (local jobs stay home) | stay | nostay "
                   "(no automatic migration from here) | speed N (0: calibrated) | maxguests N|none | "
                   "expel (send guests home, then block) | bring (call this node's jobs home, then lstay) | "
                   "forget N (root: shut node N out of the cluster, and rekey) | unforget N (let it in again)")
      ->required()
      ->check(CLI::IsMember({"show", "block", "unblock", "lstay", "nolstay", "stay", "nostay", "speed", "maxguests",
                             "expel", "bring", "forget", "unforget"}));
  node->add_option("value", o.node_value, "the number for speed and maxguests; for forget/unforget the node's number, name, id or MAC");
  node->add_flag("--json", o.json, "forget/unforget: print grapped's answer as JSON");
  auto* cluster = app.add_subcommand("cluster", "the cluster as a whole: rekey (root: a new operating key for every live member)");
  cluster->add_option("operation", o.cluster_op, "rekey")->required()->check(CLI::IsMember({"rekey"}));
  cluster->add_flag("--json", o.json, "print grapped's answer as JSON");

  auto* boot = app.add_subcommand("boot-server",
                                  "the cluster's network boot (PXE/iPXE): enable | disable | admission auto|listed|ask "
                                  "(for the whole cluster; root) | status");
  boot->add_option("operation", o.boot_op, "enable, disable, admission or status")
      ->capture_default_str()
      ->check(CLI::IsMember({"enable", "disable", "admission", "status"}));
  boot->add_option("policy", o.boot_value,
                   "with admission: who of the PCs booting from the cluster joins it: auto (any), listed (boot-nodes.toml), "
                   "ask (root answers with grappe admit|deny)")
      ->check(CLI::IsMember({"auto", "listed", "ask"}));
  boot->add_flag("--json", o.json, "machine-readable output");
  boot->add_option("--wait", o.boot_wait, "seconds to wait for grapped to come up (used at boot by grappe-serve-boot.service)")
      ->check(CLI::Range(0, 3600));
  auto* admit = app.add_subcommand("admit", "let a PC waiting to join (admission policy ask) into the cluster (root, on the serving node)");
  admit->add_option("mac", o.admit_mac, "the PC's MAC address, as grappe boot-server status lists it")->required();
  admit->add_flag("--json", o.json, "also print the boot service's status");
  auto* deny = app.add_subcommand("deny", "refuse a PC waiting to join (admission policy ask); it boots without joining (root)");
  deny->add_option("mac", o.admit_mac, "the PC's MAC address")->required();
  deny->add_flag("--json", o.json, "also print the boot service's status");
  return {{node, needs_daemon(cmd_node)}, {cluster, needs_daemon(cmd_cluster)}, {boot, needs_daemon(cmd_boot_server)}, {admit, needs_daemon(cmd_admit)},
          {deny, needs_daemon(cmd_deny)}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"grappe: the Grappe cluster toolset"};
  app.set_version_flag("--version", std::string("grappe ") + GRAPPE_VERSION);
  app.require_subcommand(1);
  Options o;
  app.add_option("--root", o.root, "root directory to read node state from (for tests)")->capture_default_str();
  app.add_option("--socket", o.socket, "grapped's API socket")->capture_default_str();
  std::vector<Command> commands;
  for (auto add : {add_info_commands, add_job_commands, add_admin_commands})
    for (auto& c : add(app, o)) commands.push_back(std::move(c));

  CLI11_PARSE(app, argc, argv);
  for (const auto& c : commands)
    if (*c.app) return c.run(o);
  return 0;
}
