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
  const nlohmann::json meta = rekey_meta({next, grace, list});
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

void Migrator::answer_rekey(TcpPeerLink& link, const Frame& f) {
  RekeyMeta r;
  std::string error;
  if (parse_rekey(f.meta, r, error)) error = env_.rekeyed ? env_.rekeyed(r.next, r.grace, r.list) : "this node takes no rekeys";
  sodium_memzero(r.next.key.data(), r.next.key.size());
  link.send({"rekeyed", {{"ok", error.empty()}, {"error", error}}, {}});
}

void Migrator::share_forgotten(const std::string& to, const ForgottenList& list, std::function<void(bool)> done) {
  auto a = env_.resolve(to);
  if (!a) return done(false);
  spawn([this, a = *a, meta = forgotten_meta(list), done] {
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
  uint32_t epoch = 0;
  std::string fpr, why;
  if (parse_abandon(f.meta, epoch, fpr, why) && env_.abandoned) env_.abandoned(epoch, fpr);
}

void Migrator::answer_forgotten(const Frame& f) {
  ForgottenList list;
  std::string why;
  if (parse_forgotten(f.meta, list, why) && env_.forgotten_shared) env_.forgotten_shared(list);
}

}  // namespace grappe
