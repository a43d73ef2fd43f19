// Rekeys between members (`grappe cluster rekey`, `grappe node forget`): the node that makes the
// next epoch's operating key hands it to every live member over the peer link. The link is
// authenticated with the current key and encrypted with keys that need an ephemeral Diffie-Hellman
// secret too (peer_link.h), so a node forgotten in this rekey, which holds the current key, cannot
// read the new one off the wire. The member stages it (membership/key_ring.h) and answers.
#include <memory>
#include <string>

#include <sodium.h>

#include "common/json_fields.h"
#include "migration/migrator.h"

namespace grappe {
namespace {

std::string key_hex(const ClusterKey& k) {
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, k.data(), k.size());
  return hex;
}

bool key_from_hex(const std::string& hex, ClusterKey& k) {
  size_t got = 0;
  return hex.size() == 64 && hex.find_first_not_of("0123456789abcdef") == std::string::npos &&
         sodium_hex2bin(k.data(), k.size(), hex.data(), hex.size(), nullptr, &got, nullptr) == 0 && got == 32;
}

nlohmann::json ids_json(const std::vector<NodeId>& ids) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& id : ids) a.push_back(id_hex(id));
  return a;
}

// The node ids of `field` (optional; at most 1024). False with `error` when malformed.
bool read_ids(const nlohmann::json& meta, const char* field, std::vector<NodeId>& out, std::string& error) {
  auto it = meta.find(field);
  if (it == meta.end()) return true;
  if (!it->is_array() || it->size() > 1024)
    return error = std::string(field) + " must be an array of at most 1024 node ids", false;
  for (const auto& v : *it) {
    NodeId id{};
    if (!v.is_string() || !id_from_hex(v.get<std::string>(), id))
      return error = std::string(field) + " holds something that is not a node id", false;
    out.push_back(id);
  }
  return true;
}

}  // namespace

void Migrator::rekey(const std::vector<std::string>& to, const KeyEpoch& next, bool grace, const ForgottenList& list,
                     std::function<void(std::vector<RekeyOutcome>)> done) {
  struct Shared {
    std::mutex mu;
    std::vector<RekeyOutcome> out;
    size_t left = 0;
    std::function<void(std::vector<RekeyOutcome>)> done;
  };
  auto sh = std::make_shared<Shared>();
  sh->done = std::move(done);
  sh->left = to.size();
  nlohmann::json meta{{"epoch", next.epoch}, {"key", key_hex(next.key)}, {"grace", grace},
                      {"forgotten", ids_json(list.ids)}, {"version", list.version}};
  if (to.empty()) {
    spawn([sh] { sh->done({}); });
    return;
  }
  for (const auto& node : to) {
    auto a = env_.resolve(node);
    spawn([this, sh, node, a, meta] {
      RekeyOutcome r{a ? a->name : node, "", false};
      std::string err;
      try {
      if (!a) r.error = "not a live member";
      else if (auto link = TcpPeerLink::connect(a->ip, a->port, env_.keys->current().key, env_.self, 10, err); !link)
        r.error = err;
      else if (!link->send({"rekey", meta, {}})) r.error = "the link broke";
      else if (auto f = link->recv(15); !f || f->kind != "rekeyed" || !f->meta.is_object()) r.error = "no answer";
      else {
        Fields in(f->meta, "rekeyed");
        const bool ok = in.boolean("ok", false);
        const std::string why = in.str("error", "", Need::Optional, 512);
        if (!in.ok()) r.error = "a malformed answer: " + in.error();
        else if (!ok) r.error = why.empty() ? "refused" : why, r.refused = true;
      }
      } catch (const std::exception& e) {  // every target is counted, whatever happens
        r.error = e.what();
      }
      std::vector<RekeyOutcome> all;
      {
        std::lock_guard<std::mutex> l(sh->mu);
        sh->out.push_back(r);
        if (--sh->left > 0) return;
        all = sh->out;
      }
      sh->done(std::move(all));
    });
  }
}

// The list of a frame's meta: "forgotten" (node ids) and "version". False with `error`.
static bool read_list(const nlohmann::json& meta, ForgottenList& out, std::string& error) {
  Fields in(meta, "forgotten list");
  out.version = static_cast<uint32_t>(in.integer("version", 0, 0, UINT32_MAX));
  if (!in.ok()) return error = in.error(), false;
  return read_ids(meta, "forgotten", out.ids, error);
}

void Migrator::answer_rekey(TcpPeerLink& link, const Frame& f) {
  Fields in(f.meta, "rekey");
  const int64_t epoch = in.integer("epoch", 0, 1, UINT32_MAX);
  const std::string hex = in.str("key", "", Need::Required, 64);
  const bool grace = in.boolean("grace", true);
  ForgottenList list;
  std::string error;
  if (read_list(f.meta, list, error) && !in.ok()) error = in.error();
  KeyEpoch next;
  next.epoch = static_cast<uint32_t>(epoch);
  if (error.empty() && !key_from_hex(hex, next.key)) error = "rekey: key is not 64 lower-case hex characters";
  if (error.empty()) error = env_.rekeyed ? env_.rekeyed(next, grace, list) : "this node takes no rekeys";
  sodium_memzero(next.key.data(), next.key.size());
  link.send({"rekeyed", {{"ok", error.empty()}, {"error", error}}, {}});
}

void Migrator::share_forgotten(const std::string& to, const ForgottenList& list, std::function<void(bool)> done) {
  auto a = env_.resolve(to);
  if (!a) return done(false);
  spawn([this, a = *a, meta = nlohmann::json{{"forgotten", ids_json(list.ids)}, {"version", list.version}}, done] {
    std::string err;
    auto link = TcpPeerLink::connect(a.ip, a.port, env_.keys->current().key, env_.self, 10, err);
    done(link && link->send({"forgotten", meta, {}}));
  });
}

void Migrator::abandon_rekey(const std::vector<std::string>& to, const KeyEpoch& next) {
  const nlohmann::json meta{{"epoch", next.epoch}, {"fingerprint", key_fingerprint(next.key)}};
  for (const auto& node : to) {
    auto a = env_.resolve(node);
    if (!a) continue;
    spawn([this, a = *a, meta] {
      std::string err;
      if (auto link = TcpPeerLink::connect(a.ip, a.port, env_.keys->current().key, env_.self, 10, err))
        link->send({"abandon", meta, {}});
    });
  }
}

void Migrator::answer_abandoned(const Frame& f) {
  Fields in(f.meta, "abandon");
  const auto epoch = static_cast<uint32_t>(in.integer("epoch", 0, 1, UINT32_MAX));
  const std::string fpr = in.str("fingerprint", "", Need::Required, 16);
  if (in.ok() && env_.abandoned) env_.abandoned(epoch, fpr);
}

void Migrator::answer_forgotten(const Frame& f) {
  ForgottenList list;
  std::string error;
  if (read_list(f.meta, list, error) && env_.forgotten_shared) env_.forgotten_shared(list);
}

}  // namespace grappe
