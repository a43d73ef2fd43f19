// grapped: the Grappe node daemon. One per node, no master: discovery, membership and load
// dissemination for now; jobs, migration and balancing come next.
#include <sodium.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <sstream>

#include <CLI/CLI.hpp>

#include "daemon/config.h"
#include "common/json_fields.h"
#include "common/text_file.h"
#include "daemon/daemon.h"

using namespace grappe;

namespace {

std::string slurp(const std::string& p) {
  auto text = try_read_file(p);
  if (!text) throw std::runtime_error("cannot read " + p);
  return *text;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// The key file: the medium's invitation or an admitted PC's member line (boot/credentials.h);
// then the operating key of a later epoch this node took (a rekey, a rejoin), kept in the state
// directory across restarts of grapped.
Credentials load_credentials(const std::string& path, const std::string& state_dir) {
  auto text = try_read_file(path);
  if (!text)
    throw std::runtime_error("cannot read the cluster key " + path +
                             " (it is created by grappe-build, or given at admission; give another with --key)");
  std::string why;
  auto c = parse_credentials(*text, why);
  if (!c) throw std::runtime_error("the cluster key " + path + " is " + why);
  if (auto op = try_read_file(state_dir + "/opkey")) {
    std::istringstream in(*op);
    long long epoch = -1;
    std::string hex;
    ClusterSecret k{};
    if (in >> epoch >> hex && epoch > c->epoch && epoch <= UINT32_MAX && parse_hex(hex, k))
      c->epoch = static_cast<uint32_t>(epoch), c->op = k;
    sodium_memzero(hex.data(), hex.size());
  }
  return *c;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"grapped: the Grappe node daemon (discovery, membership, load dissemination)"};
  std::string config = "/etc/grappe/grapped.toml", socket, state_dir, key, group, name, id_hex_opt, cluster, image;
  int port = 0;
  long speed = -1;
  std::vector<std::string> ifaces;
  app.add_option("-c,--config", config, "settings file (missing is fine)")->capture_default_str();
  app.add_option("--socket", socket, "local API socket (default /run/grappe/grapped.sock)");
  app.add_option("--state-dir", state_dir, "where the node number and incarnation are kept");
  app.add_option("--key", key, "cluster key file (64 hex characters)");
  app.add_option("--port", port, "UDP port of the cluster protocol (default 7423)");
  app.add_option("--group", group, "discovery multicast group (default 239.255.71.82)");
  app.add_option("--interface", ifaces, "beacon only on these interfaces (repeatable)");
  app.add_option("--name", name, "node name (default: hostname)");
  app.add_option("--id", id_hex_opt, "node id, 32 hex characters (default: from /etc/machine-id)");
  app.add_option("--speed", speed, "CPU speed to advertise instead of calibrating");
  app.add_option("--cluster", cluster, "cluster name (default: from /etc/grappe/image.json)");
  std::string job_init, dash_assets;
  app.add_option("--job-init", job_init, "grappe-job-init binary (default /usr/lib/grappe/grappe-job-init)");
  int dash_port = -1;
  app.add_option("--dashboard-port", dash_port, "web dashboard's TCP port (0: none; default from [dashboard] port)")->check(CLI::Range(0, 65535));
  app.add_option("--dashboard-assets", dash_assets, "the dashboard's page and scripts (default /usr/share/grappe/dashboard)");
  CLI11_PARSE(app, argc, argv);
  try {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    DaemonConfig cfg = load_daemon_config(config, false);
    if (!socket.empty()) cfg.socket = socket;
    if (!state_dir.empty()) cfg.state_dir = state_dir;
    if (!key.empty()) cfg.key_file = key;
    if (port) cfg.port = static_cast<uint16_t>(port);
    if (!group.empty()) cfg.group = group;
    if (!ifaces.empty()) cfg.interfaces = ifaces;
    if (!name.empty()) cfg.name = name;
    if (speed >= 0) cfg.speed = static_cast<uint32_t>(speed);
    if (!cluster.empty()) cfg.cluster = cluster;
    if (!job_init.empty()) cfg.job_init = job_init;
    if (dash_port >= 0) cfg.dashboard_port = static_cast<uint16_t>(dash_port);
    if (!dash_assets.empty()) cfg.dashboard_assets = dash_assets;

    DaemonIdentity ident;
    ident.creds = load_credentials(cfg.key_file, cfg.state_dir);
    std::string idsrc = id_hex_opt.empty() ? trim(slurp(cfg.machine_id_file)).substr(0, 32) : id_hex_opt;
    if (!id_from_hex(idsrc, ident.id))
      throw std::runtime_error("node id '" + idsrc + "' is not 32 lower-case hex characters (from " +
                               (id_hex_opt.empty() ? cfg.machine_id_file : std::string("--id")) + ")");
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    ident.name = cfg.name.empty() ? host : cfg.name;
    ident.cluster = cfg.cluster;
    if (ident.cluster.empty()) {
      auto j = nlohmann::json::parse(read_text(cfg.image_file), nullptr, false);
      Fields f(j, cfg.image_file);
      ident.cluster = f.str("cluster", "grappe", Need::Optional, 255);
    }
    ident.incarnation = static_cast<uint32_t>(std::time(nullptr));
    auto state = nlohmann::json::parse(read_text(cfg.state_dir + "/state.json"), nullptr, false);
    if (state.is_object()) {  // a field of the wrong type keeps its default instead of stopping grapped
      Fields f(state, "state.json");
      ident.number = static_cast<uint16_t>(f.integer("number", 0, 0, UINT16_MAX));
      ident.incarnation = std::max(ident.incarnation, static_cast<uint32_t>(f.integer("incarnation", 0, 0, UINT32_MAX - 1)) + 1);
      ident.job_seq = static_cast<uint64_t>(f.integer("job_seq", 1, 1, INT64_MAX));
    }
    ident.speed = cfg.speed ? cfg.speed : calibrate_speed();
    // Not destroyed on the way out: migration threads may still hold it; the process just ends.
    auto* d = new Daemon(cfg, ident);
    int rc = d->run();
    std::fflush(nullptr);
    std::_Exit(rc);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "grapped: %s\n", e.what());
    return 1;
  }
}
