#include "daemon/api_server.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "balance/node_admin.h"

namespace grappe {

nlohmann::json member_json(const Member& m, double now, bool self) {
  char addr[INET_ADDRSTRLEN] = "-";
  if (m.ipv4) inet_ntop(AF_INET, &m.ipv4, addr, sizeof addr);
  nlohmann::json j = {{"id", id_hex(m.id)},
                      {"name", m.name.str()},
                      {"number", m.number},
                      {"address", self ? "self" : std::string(addr)},
                      {"port", m.port},
                      {"state", state_name(m.state)},
                      {"incarnation", m.incarnation},
                      {"self", self}};
  if (m.load) {
    const LoadInfo& l = m.load->info;
    j["cpus"] = l.cpus;
    j["speed"] = l.speed;
    j["load"] = l.load_milli / 1000.0;
    j["mem_total_mb"] = l.mem_total_mb;
    j["mem_free_mb"] = l.mem_free_mb;
    j["jobs"] = l.jobs;
    j["flags"] = l.flags;
    j["flags_text"] = flags_text(l.flags);
    j["info_age_s"] = std::max(0.0, now - m.load->time);
  }
  return j;
}

nlohmann::json nodes_reply(const Membership& mb, double now) {
  nlohmann::json nodes = nlohmann::json::array();
  nodes.push_back(member_json(mb.self(), now, true));
  for (const auto& m : mb.members()) nodes.push_back(member_json(m, now, false));
  return {{"v", kApiVersion}, {"ok", true}, {"nodes", nodes}};
}

void add_pending(nlohmann::json& reply, const nlohmann::json& boot, const std::string& self) {
  if (!boot.is_object()) return;
  auto text = [](const nlohmann::json& o, const char* k) {
    auto it = o.find(k);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto adm = boot.find("admission");
  if (text(boot, "role") == "serving" && adm != boot.end() && adm->is_object()) {
    nlohmann::json pending = nlohmann::json::array();
    auto list = adm->find("pending");
    if (list != adm->end() && list->is_array())
      for (const auto& p : *list) {
        if (!p.is_object() || text(p, "mac").empty()) continue;
        auto w = p.find("waiting_s");
        const int waiting = w != p.end() && w->is_number_integer() ? w->get<int>() : 0;
        pending.push_back({{"mac", text(p, "mac")}, {"address", text(p, "address")}, {"key", text(p, "key")},
                           {"waiting_s", waiting}, {"admit", "grappe admit " + text(p, "mac")}});
      }
    reply["pending"] = pending;
    reply["pending_server"] = self;
    return;
  }
  auto pol = boot.find("admission_policy");
  auto on = boot.find("enabled");
  if (on != boot.end() && on->is_boolean() && on->get<bool>() && pol != boot.end() && pol->is_object() && text(*pol, "policy") == "ask" &&
      !text(boot, "founder").empty())
    reply["pending_on"] = text(boot, "founder");
}

nlohmann::json status_reply(const Membership& mb, const DaemonInfo& info, const DaemonCounters& c, double now) {
  size_t alive = 1, suspect = 0, dead = 0;
  for (const auto& m : mb.members()) {
    alive += m.state == MemberState::Alive;
    suspect += m.state == MemberState::Suspect;
    dead += m.state == MemberState::Dead || m.state == MemberState::Left;
  }
  uint64_t rejected = 0;
  for (const auto& [k, v] : c.rejected) rejected += v;
  return {{"v", kApiVersion},
          {"ok", true},
          {"cluster", info.cluster},
          {"key_fingerprint", info.key_fingerprint},
          {"self", member_json(mb.self(), now, true)},
          {"size", mb.live_count()},
          {"alive", alive},
          {"suspect", suspect},
          {"dead", dead},
          {"uptime_s", now - info.started},
          {"port", info.port},
          {"migration", info.migration},
          {"home", info.home},
          {"boot", info.boot},
          {"handshakes", info.handshakes},
          {"keys", info.keys},
          {"suspicion_timeout_s", mb.suspicion_timeout()},
          {"protocol", {{"probes", mb.stats().probes}, {"indirect_probes", mb.stats().indirect_probes},
                        {"suspicions", mb.stats().suspicions}, {"deaths", mb.stats().deaths},
                        {"refutations", mb.stats().refutations}}},
          {"packets", {{"received", c.received}, {"accepted", c.accepted}, {"replayed", c.replayed},
                       {"rejected", rejected}, {"rejected_by_reason", c.rejected}, {"sent", c.sent}, {"bytes_sent", c.bytes_sent}, {"bytes_received", c.bytes_received},
                       {"send_errors", c.send_errors}}}};
}

}  // namespace grappe
