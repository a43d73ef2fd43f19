// The operating key's epochs (boot/credentials.h, membership/key_ring.h): packets under any key
// this node accepts; `grappe cluster rekey` and `grappe node forget|unforget`; a member taking a
// rekey; a node booted from a medium rejoining after one (boot/rejoin.h); what is kept on disk.
#include <arpa/inet.h>
#include <sodium.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/json_fields.h"
#include "common/text_file.h"
#include "daemon/daemon.h"
#include "boot/rejoin.h"

namespace grappe {
namespace {

// Writes `text` to `path` (mode 0600) through a temporary file and a rename: never half-written.
void write_private_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) throw std::runtime_error("cannot write " + tmp);
  ::fchmod(::fileno(f), 0600);
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok) throw std::runtime_error("cannot write " + tmp);
  std::filesystem::rename(tmp, path);
}

std::string addr_text(uint32_t ipv4) {
  char a[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &ipv4, a, sizeof a);
  return a;
}

}  // namespace

std::optional<Message> Daemon::decode_any(const uint8_t* p, size_t n, DecodeError& err, double now) {
  const auto keys = ring_->accepted(now);
  const uint32_t cur = keys.front().epoch;
  for (const auto& k : keys) {
    DecodeError e = DecodeError::None;
    auto m = decode(p, n, k.key, e);
    if (m) {
      if (k.epoch > cur) ring_->commit(k.epoch, now);  // a member sends with the next key: so do we
      return m;
    }
    err = e;
    if (e != DecodeError::BadMac) return std::nullopt;  // malformed under any key
  }
  return std::nullopt;
}

bool Daemon::receive_rejoin(const uint8_t* p, size_t n, const sockaddr_in& from, double now) {
  if (is_rejoin_request(p, n)) {
    auto req = read_rejoin_request(p, n, ident_.creds.join_pub);
    const KeyEpoch cur = ring_->current();
    if (!req) {
      ++counters_.rejected["rejoin"];
    } else if (req->id == ident_.id || req->epoch >= cur.epoch) {
      // ours, or nothing newer to give
    } else if (is_forgotten(req->id)) {
      if (rejoin_.refused++ % 20 == 0)
        mb_.on_event("refused a rejoin: node " + id_hex(req->id) + " (" + addr_text(from.sin_addr.s_addr) + ") was forgotten");
    } else if (double& at = rejoin_.answered_at[from.sin_addr.s_addr]; now - at >= 1 || at == 0) {
      at = now;
      if (rejoin_.answered_at.size() > 1024) rejoin_.answered_at.clear();
      auto reply = make_rejoin_reply(boot_keys(ident_.creds), *req, cur.epoch, cur.key);
      if (!reply.empty() &&
          ::sendto(udp_, reply.data(), reply.size(), 0, reinterpret_cast<const sockaddr*>(&from), sizeof from) > 0) {
        ++rejoin_.answered;
        mb_.on_event("gave key epoch " + std::to_string(cur.epoch) + " to node " + id_hex(req->id) + " (" +
                     addr_text(from.sin_addr.s_addr) + "), which holds the invitation");
      }
    }
    return true;
  }
  if (!is_rejoin_reply(p, n)) return false;
  uint32_t epoch = 0;
  ClusterSecret op{};
  if (!ident_.creds.invited ||
      !open_rejoin_reply(p, n, boot_keys(ident_.creds).pub, rejoin_.pk, rejoin_.sk, epoch, op)) {
    ++counters_.rejected["rejoin"];
  } else if (ring_->install({epoch, op}, now)) {
    rejoin_.last = "rejoined at key epoch " + std::to_string(epoch) + " from " + addr_text(from.sin_addr.s_addr);
    std::printf("grappe: %s\n", rejoin_.last.c_str());
    std::fflush(stdout);
  }
  sodium_memzero(op.data(), op.size());
  return true;
}

void Daemon::keys_tick(double now) {
  ring_->tick(now);
  const KeyEpoch cur = ring_->current();
  if (cur.epoch != epoch_seen_) {
    epoch_seen_ = cur.epoch;
    overlay_keys_.clear();
    info_.key_fingerprint = key_fingerprint(cur.key);
    try {
      save_opkey(cur);
    } catch (const std::exception& e) {
      mb_.on_event(std::string("cannot keep the new key: ") + e.what());
    }
    std::printf("grappe: cluster key epoch %u in use (fingerprint %s)\n", cur.epoch, info_.key_fingerprint.c_str());
    std::fflush(stdout);
  }
  // A node holding the invitation that sees no member asks whether the cluster moved on to a
  // newer key while it was away (or before it booted): every 3 s while alone.
  share_forgotten();
  if (!ident_.creds.invited) return;
  bool alone = true;
  for (const Member& m : mb_.members()) alone &= !(m.state == MemberState::Alive || m.state == MemberState::Suspect);
  if (!alone) return rejoin_.alone_since = -1, void();
  if (rejoin_.alone_since < 0) rejoin_.alone_since = now;
  if (now < rejoin_.next) return;
  rejoin_.next = now + 3;
  if (rejoin_.pk == std::array<uint8_t, 32>{}) crypto_box_keypair(rejoin_.pk.data(), rejoin_.sk.data());
  auto sec = join_secret(ident_.creds.invite);
  auto req = make_rejoin_request(sec, {cur.epoch, ident_.id, rejoin_.pk});
  sodium_memzero(sec.data(), sec.size());
  for_each_segment(cfg_.broadcast, [&](const sockaddr_in& to) {
    ::sendto(udp_, req.data(), req.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
  });
  ++rejoin_.asked;
}

// Which node `what` names: a number or name in the member table (any state), a node id, or the
// MAC of a network-booted PC (its id derives from it).
static std::optional<NodeId> node_named(const Membership& mb, const std::string& what, std::string& name) {
  for (const Member& m : mb.members())
    if (what == m.name.str() || (m.number && what == std::to_string(m.number))) return name = m.name.str(), m.id;
  NodeId id{};
  if (id_from_hex(what, id)) return name = what, id;
  if (std::string mac = canonical_mac(what); !mac.empty()) return name = mac, node_id_for_mac(mac);
  return std::nullopt;
}

nlohmann::json Daemon::cluster_command(const std::string& op, const std::string& value, const Caller& who) {
  auto fail = [&](const std::string& why) { return nlohmann::json{{"v", 1}, {"ok", false}, {"error", why}}; };
  const std::string cmd = op == "rekey" ? "cluster rekey" : "node " + op;
  if (op != "rekey" && op != "forget" && op != "unforget")
    return fail("cluster: unknown operation '" + op + "': use rekey, forget or unforget");
  if (who.uid != 0) return fail("only root may do this (try sudo grappe " + cmd + (value.empty() ? "" : " " + value) + ")");
  if (rekeying_) return fail(cmd + ": a rekey is under way; try again in a few seconds");
  if (op == "rekey") return start_rekey(who, "rekey", {});
  if (value.empty()) return fail(cmd + ": name the node: its number, name, node id or MAC (grappe nodes)");
  std::string name;
  auto id = node_named(mb_, value, name);
  if (!id) return fail(cmd + ": no node '" + value + "' in this node's table, and it is not a node id or MAC");
  if (*id == ident_.id) return fail(cmd + ": this is the node you are on; forget it from another member");
  {
    std::lock_guard<std::mutex> l(forgot_mu_);
    if (op == "forget") {
      if (!forgotten_.insert(*id).second) return fail(cmd + ": " + name + " is forgotten already");
    } else if (!forgotten_.erase(*id)) {
      return fail(cmd + ": " + name + " is not forgotten");
    }
    told_forgotten_.clear();
  }
  save_forgotten();
  mb_.on_event("admin: node " + op + " " + name + " by uid " + std::to_string(who.uid));
  std::vector<NodeId> unforget;
  if (op == "unforget") unforget.push_back(*id);
  return start_rekey(who, op + " " + name, unforget);
}

nlohmann::json Daemon::start_rekey(const Caller& who, const std::string& what, const std::vector<NodeId>& unforget) {
  std::vector<std::string> to;
  for (const Member& m : mb_.members())
    if ((m.state == MemberState::Alive || m.state == MemberState::Suspect) && m.number && !is_forgotten(m.id))
      to.push_back(std::to_string(m.number));
  KeyEpoch next;
  next.epoch = ring_->current().epoch + 1;
  randombytes_buf(next.key.data(), next.key.size());
  std::vector<NodeId> forgotten;
  {
    std::lock_guard<std::mutex> l(forgot_mu_);
    forgotten.assign(forgotten_.begin(), forgotten_.end());
  }
  rekeying_ = true;
  const int client = who.client;
  mig_->rekey(to, next, forgotten, unforget, [this, next, client, what](std::vector<RekeyOutcome> outs) {
    std::lock_guard<std::mutex> l(mu_);
    const double now = now_s();
    ring_->stage(next, now);
    ring_->commit(next.epoch, now);
    rekeying_ = false;
    nlohmann::json reached = nlohmann::json::array(), missed = nlohmann::json::array();
    for (const auto& o : outs)
      if (o.error.empty()) reached.push_back(o.node);
      else missed.push_back({{"node", o.node}, {"error", o.error}});
    mb_.on_event(what + ": key epoch " + std::to_string(next.epoch) + ", " + std::to_string(reached.size()) +
                 " members took it, " + std::to_string(missed.size()) + " did not");
    const size_t i = client_index(client);
    if (i < clients_.size()) {
      clients_[i].out += dump_safe(nlohmann::json{{"v", 1}, {"ok", true}, {"epoch", next.epoch}, {"done", what},
                                                  {"reached", reached}, {"missed", missed}}) + "\n";
      clients_[i].closing = true;
      wake_loop();
    }
  });
  return nullptr;
}

std::string Daemon::take_rekey(const KeyEpoch& next, const std::vector<NodeId>& forget,
                               const std::vector<NodeId>& unforget) {
  std::lock_guard<std::mutex> l(mu_);
  const uint32_t cur = ring_->current().epoch;
  if (!ring_->stage(next, now_s()))
    return "key epoch " + std::to_string(next.epoch) + " is not newer than this node's (" + std::to_string(cur) + ")";
  {
    std::lock_guard<std::mutex> fl(forgot_mu_);
    forgotten_.insert(forget.begin(), forget.end());
    for (const auto& id : unforget) forgotten_.erase(id);
    told_forgotten_.clear();
  }
  save_forgotten();
  mb_.on_event("rekey: key epoch " + std::to_string(next.epoch) + " received");
  return "";
}

void Daemon::merge_forgotten(const std::vector<NodeId>& ids) {
  std::lock_guard<std::mutex> l(mu_);
  size_t added = 0;
  {
    std::lock_guard<std::mutex> fl(forgot_mu_);
    for (const auto& id : ids) added += forgotten_.insert(id).second;
  }
  if (!added) return;
  save_forgotten();
  mb_.on_event("learnt of " + std::to_string(added) + " forgotten node(s) from a member");
}

void Daemon::share_forgotten() {
  std::vector<NodeId> ids;
  std::vector<std::pair<NodeId, std::string>> newcomers;
  {
    std::lock_guard<std::mutex> l(forgot_mu_);
    if (forgotten_.empty()) return;
    ids.assign(forgotten_.begin(), forgotten_.end());
    for (const Member& m : mb_.members())
      if (m.state == MemberState::Dead || m.state == MemberState::Left) told_forgotten_.erase(m.id);  // may come back without it
      else if (m.state == MemberState::Alive && m.number && !forgotten_.count(m.id) && told_forgotten_.insert(m.id).second)
        newcomers.emplace_back(m.id, std::to_string(m.number));
  }
  for (const auto& n : newcomers) mig_->share_forgotten(n.second, ids);
}

Credentials Daemon::member_credentials() const {
  Credentials c = ident_.creds;
  c.invited = false;
  sodium_memzero(c.invite.data(), c.invite.size());
  const KeyEpoch k = ring_->current();
  c.epoch = k.epoch;
  c.op = k.key;
  return c;
}

bool Daemon::is_forgotten(const NodeId& id) const {
  std::lock_guard<std::mutex> l(forgot_mu_);
  return forgotten_.count(id) != 0;
}

void Daemon::load_forgotten() {
  auto j = nlohmann::json::parse(read_text(cfg_.state_dir + "/forgotten.json"), nullptr, false);
  if (!j.is_array()) return;
  std::lock_guard<std::mutex> l(forgot_mu_);
  for (const auto& v : j) {
    NodeId id{};
    if (v.is_string() && id_from_hex(v.get<std::string>(), id)) forgotten_.insert(id);
  }
}

void Daemon::save_forgotten() {
  nlohmann::json j = nlohmann::json::array();
  {
    std::lock_guard<std::mutex> l(forgot_mu_);
    for (const auto& id : forgotten_) j.push_back(id_hex(id));
  }
  try {
    std::filesystem::create_directories(cfg_.state_dir);
    write_private_file(cfg_.state_dir + "/forgotten.json", j.dump() + "\n");
  } catch (const std::exception& e) {
    mb_.on_event(std::string("cannot keep the forgotten nodes: ") + e.what());
  }
}

void Daemon::save_opkey(const KeyEpoch& k) {
  std::filesystem::create_directories(cfg_.state_dir);
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, k.key.data(), k.key.size());
  write_private_file(cfg_.state_dir + "/opkey", std::to_string(k.epoch) + " " + hex + "\n");
  sodium_memzero(hex, sizeof hex);
}

nlohmann::json Daemon::keys_status() const {
  size_t forgotten;
  {
    std::lock_guard<std::mutex> l(forgot_mu_);
    forgotten = forgotten_.size();
  }
  return {{"epoch", ring_->current().epoch},
          {"credential", ident_.creds.invited ? "invitation" : "admitted"},
          {"forgotten", forgotten},
          {"rejoin", {{"asked", rejoin_.asked}, {"answered", rejoin_.answered}, {"refused", rejoin_.refused},
                      {"last", rejoin_.last}}}};
}

}  // namespace grappe
