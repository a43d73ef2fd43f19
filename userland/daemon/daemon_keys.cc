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
    } else if (req->id == ident_.id || req->epoch >= cur.epoch || !ident_.creds.invited) {
      // ours; nothing newer to give; or not ours to answer: only invitation holders sign replies
    } else if (is_forgotten(req->id)) {
      if (rejoin_.refused++ % 20 == 0)
        mb_.on_event("refused a rejoin: node " + id_hex(req->id) + " (" + addr_text(from.sin_addr.s_addr) + ") was forgotten");
    } else if (double& at = rejoin_.answered_at[from.sin_addr.s_addr]; at == 0 || now - at >= 1) {
      at = now;
      if (rejoin_.answered_at.size() > 1024) rejoin_.answered_at.clear();
      auto sec = rejoin_reply_secret(ident_.creds.invite);
      auto reply = make_rejoin_reply(sec, *req, cur.epoch, cur.key);
      sodium_memzero(sec.data(), sec.size());
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
  // Only while a request of ours is fresh, for its one-time key, signed by an invitation holder.
  if (!ident_.creds.invited || rejoin_.asked_at < 0 || now - rejoin_.asked_at > 10 ||
      !open_rejoin_reply(p, n, rejoin_reply_public(ident_.creds.invite), rejoin_.pk, rejoin_.sk, epoch, op)) {
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
  if (pending_list_ && cur.epoch >= pending_key_.epoch) {  // only with the very key it came with
    if (cur.epoch == pending_key_.epoch && sodium_memcmp(cur.key.data(), pending_key_.key.data(), cur.key.size()) == 0)
      adopt_list_locked(*pending_list_);
    pending_list_.reset();
  } else if (pending_list_ && !ring_->staged(now)) {
    pending_list_.reset();  // abandoned or expired
  }
  share_forgotten();
  // A node holding the invitation asks whether the cluster moved on to a newer key while it was
  // away (or before it booted): every 3 s while it sees no member, every 30 s otherwise (members
  // that missed a rekey together still see each other). Members at the same epoch stay silent.
  if (!ident_.creds.invited) return;
  bool alone = true;
  for (const Member& m : mb_.members()) alone &= !(m.state == MemberState::Alive || m.state == MemberState::Suspect);
  if (now < rejoin_.next && !(alone && now - rejoin_.asked_at >= 3)) return;
  rejoin_.next = now + 30;
  rejoin_.asked_at = now;
  crypto_box_keypair(rejoin_.pk.data(), rejoin_.sk.data());  // a fresh pair for each request
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
  if (op == "rekey") return start_rekey(who, "rekey", true, std::nullopt);
  if (value.empty()) return fail(cmd + ": name the node: its number, name, node id or MAC (grappe nodes)");
  std::string name;
  const Member& me = mb_.self();
  auto id = value == me.name.str() || (me.number && value == std::to_string(me.number)) ? std::optional<NodeId>(me.id)
                                                                                          : node_named(mb_, value, name);
  if (!id) return fail(cmd + ": no node '" + value + "' in this node's table, and it is not a node id or MAC");
  if (*id == ident_.id) return fail(cmd + ": this is the node you are on; forget it from another member");
  {
    std::lock_guard<std::mutex> l(forgot_mu_);
    if (op == "forget" ? forgotten_.count(*id) != 0 : forgotten_.count(*id) == 0)
      return fail(cmd + ": " + name + (op == "forget" ? " is forgotten already" : " is not forgotten"));
  }
  return start_rekey(who, op + " " + name, op != "forget", op == "rekey" ? std::nullopt : std::optional<std::pair<NodeId, bool>>{{*id, op == "forget"}});
}

nlohmann::json Daemon::start_rekey(const Caller& who, const std::string& what, bool grace,
                                   std::optional<std::pair<NodeId, bool>> change) {
  const double now = now_s();
  KeyEpoch next;
  next.epoch = ring_->current().epoch + 1;
  randombytes_buf(next.key.data(), next.key.size());
  if (ring_->stage(next, now, grace) != StageResult::Staged)  // another member's rekey is under way
    return nlohmann::json{{"v", 1}, {"ok", false}, {"error", what + ": another rekey is under way; try again in a few seconds"}};
  pending_list_.reset();
  ForgottenList list;
  std::vector<std::string> to;
  {
    std::lock_guard<std::mutex> l(forgot_mu_);
    std::set<NodeId> ids = forgotten_;
    if (change) change->second ? (void)ids.insert(change->first) : (void)ids.erase(change->first);
    list.ids.assign(ids.begin(), ids.end());
    list.version = change ? next.epoch : forgotten_version_;
    for (const Member& m : mb_.members())
      if ((m.state == MemberState::Alive || m.state == MemberState::Suspect) && m.number && !ids.count(m.id))
        to.push_back(std::to_string(m.number));
  }
  rekeying_ = true;
  const int client = who.client;
  mb_.on_event(what + " by uid " + std::to_string(who.uid) + ": key epoch " + std::to_string(next.epoch) + " to " +
               std::to_string(to.size()) + " member(s)");
  mig_->rekey(to, next, grace, list, [this, next, client, what, list, to](std::vector<RekeyOutcome> outs) {
    const size_t n = to.size();
    std::lock_guard<std::mutex> l(mu_);
    rekeying_ = false;
    nlohmann::json reached = nlohmann::json::array(), missed = nlohmann::json::array();
    std::string refused;
    for (const auto& o : outs) {
      if (o.error.empty()) reached.push_back(o.node);
      else missed.push_back({{"node", o.node}, {"error", o.error}});
      if (o.refused) refused += (refused.empty() ? "" : "; ") + o.node + ": " + o.error;
    }
    nlohmann::json reply;
    // Members drop a staged key after KeyRing::kStagedS: commit only well within it.
    const bool late = ring_->staged_for(now_s()) > KeyRing::kStagedS - 10;
    if (!refused.empty() || (n > 0 && reached.empty()) || late || !ring_->staged(now_s())) {
      // Nobody commits a key the initiator does not send with: the staged copies expire.
      ring_->unstage(next.epoch);
      mig_->abandon_rekey(to, next);
      const std::string why = !refused.empty() ? "another rekey ran at the same time (" + refused + "); run it again"
                              : late || reached.size() ? "the members took too long to answer; run it again"
                                                       : "no member could be reached, so the key stays as it was";
      mb_.on_event(what + ": abandoned: " + why);
      reply = {{"v", 1}, {"ok", false}, {"error", what + ": " + why}};
    } else {
      ring_->commit(next.epoch, now_s());
      adopt_list_locked(list);
      mb_.on_event(what + ": key epoch " + std::to_string(next.epoch) + ", " + std::to_string(reached.size()) +
                   " members took it, " + std::to_string(missed.size()) + " did not");
      reply = {{"v", 1}, {"ok", true}, {"epoch", next.epoch}, {"done", what}, {"reached", reached}, {"missed", missed}};
    }
    const size_t i = client_index(client);
    if (i < clients_.size()) {
      clients_[i].out += dump_safe(reply) + "\n";
      clients_[i].closing = true;
      wake_loop();
    }
  });
  return nullptr;
}

std::string Daemon::take_rekey(const KeyEpoch& next, bool grace, const ForgottenList& list) {
  std::lock_guard<std::mutex> l(mu_);
  const uint32_t cur = ring_->current().epoch;
  switch (ring_->stage(next, now_s(), grace)) {
    case StageResult::Old:
      return "key epoch " + std::to_string(next.epoch) + " is not a next epoch for this node (at " + std::to_string(cur) + ")";
    case StageResult::Conflict:
      return "another rekey is under way here";
    case StageResult::Same:
    case StageResult::Staged:
      break;
  }
  pending_list_ = list;  // the list takes effect with the key, not before (the rekey may be abandoned)
  pending_list_->version = std::min(list.version, next.epoch);
  pending_key_ = next;
  mb_.on_event("rekey: key epoch " + std::to_string(next.epoch) + " received");
  return "";
}

void Daemon::adopt_forgotten(const ForgottenList& list) {
  std::lock_guard<std::mutex> l(mu_);
  adopt_list_locked(list);
}

// A newer list replaces ours (an unforget as much as a forget); an older one is ignored.
void Daemon::adopt_list_locked(const ForgottenList& list) {
  {
    std::lock_guard<std::mutex> fl(forgot_mu_);
    if (list.version <= forgotten_version_) return;
    forgotten_ = std::set<NodeId>(list.ids.begin(), list.ids.end());
    forgotten_version_ = list.version;
    told_forgotten_.clear();
  }
  save_forgotten();
  mb_.on_event("forgotten nodes: " + std::to_string(list.ids.size()) + " (list of key epoch " + std::to_string(list.version) + ")");
}

void Daemon::share_forgotten() {
  ForgottenList list;
  std::vector<std::pair<NodeId, std::string>> newcomers;
  {
    std::lock_guard<std::mutex> l(forgot_mu_);
    if (forgotten_version_ == 0) return;  // nobody was ever forgotten
    list.ids.assign(forgotten_.begin(), forgotten_.end());
    list.version = forgotten_version_;
    for (const Member& m : mb_.members())
      if (m.state == MemberState::Dead || m.state == MemberState::Left) told_forgotten_.erase(m.id);  // may come back without it
      else if (m.state == MemberState::Alive && m.number && !forgotten_.count(m.id) && told_forgotten_.insert(m.id).second)
        newcomers.emplace_back(m.id, std::to_string(m.number));
  }
  const double now = now_s();
  for (const auto& n : newcomers) {
    if (auto t = share_retry_.find(n.first); t != share_retry_.end() && now < t->second) {
      std::lock_guard<std::mutex> l(forgot_mu_);
      told_forgotten_.erase(n.first);  // not yet: after its pause
      continue;
    }
    share_retry_[n.first] = now + 5;  // a failed share is tried again 5 s later, not every turn
    if (share_retry_.size() > 4096) share_retry_.clear();
    mig_->share_forgotten(n.second, list, [this, id = n.first](bool ok) {
      if (ok) return;
      std::lock_guard<std::mutex> l(forgot_mu_);
      told_forgotten_.erase(id);
    });
  }
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
  if (!j.is_object()) return;
  Fields f(j, "forgotten.json");
  const auto version = static_cast<uint32_t>(f.integer("version", 0, 0, UINT32_MAX));
  auto ids = j.find("ids");
  if (!f.ok() || ids == j.end() || !ids->is_array()) return;
  std::lock_guard<std::mutex> l(forgot_mu_);
  forgotten_version_ = version;
  for (const auto& v : *ids) {
    NodeId id{};
    if (v.is_string() && id_from_hex(v.get<std::string>(), id)) forgotten_.insert(id);
  }
}

void Daemon::save_forgotten() {
  nlohmann::json j = {{"version", 0}, {"ids", nlohmann::json::array()}};
  {
    std::lock_guard<std::mutex> l(forgot_mu_);
    j["version"] = forgotten_version_;
    for (const auto& id : forgotten_) j["ids"].push_back(id_hex(id));
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
  std::string line = std::to_string(k.epoch) + " " + to_hex(k.key) + "\n";
  write_private_file(cfg_.state_dir + "/opkey", line);
  sodium_memzero(line.data(), line.size());
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
          {"rekeying", ring_->staged(now_s()).has_value()},
          {"rejoin", {{"asked", rejoin_.asked}, {"answered", rejoin_.answered}, {"refused", rejoin_.refused},
                      {"last", rejoin_.last}}}};
}

}  // namespace grappe
