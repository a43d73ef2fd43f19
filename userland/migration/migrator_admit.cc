// Admission answers between members: `grappe admit|deny MAC` run on any node reaches the node
// serving network boot (which holds the waiting PC, boot/boot_service.h) over the same
// authenticated, encrypted link as migrations. Only members can open one, and a member is root on
// every node anyway, so the serving node takes the answer as root's.
#include <string>

#include "common/json_fields.h"
#include "migration/migrator.h"

namespace grappe {
namespace {

nlohmann::json refusal(const std::string& op, const std::string& why) {
  return {{"v", 1}, {"ok", false}, {"error", op + ": " + why}};
}

}  // namespace

void Migrator::forward_admission(const std::string& server, const std::string& mac, bool admit, const std::string& by,
                                 int client) {
  const std::string op = admit ? "admit" : "deny";
  auto to = env_.resolve(server);
  if (!to) return env_.reply(client, refusal(op, "the node serving network boot (" + server + ") cannot be reached"));
  spawn([this, to = *to, mac, admit, by, client, op] {
    std::string err;
    nlohmann::json reply;
    auto link = TcpPeerLink::connect(to.ip, to.port, env_.keys->current().key, env_.self, 10, err);
    if (!link) reply = refusal(op, "cannot reach " + to.name + ", which serves network boot: " + err);
    else if (!link->send({"admit", {{"mac", mac}, {"admit", admit}, {"by", by}}, {}}))
      reply = refusal(op, "the link to " + to.name + " broke");
    else if (auto f = link->recv(15); !f || f->kind != "admitted" || !f->meta.is_object())
      reply = refusal(op, to.name + " did not answer");
    else {
      Fields r(f->meta, "admitted");
      const bool ok = r.boolean("ok", false);
      const std::string error = r.str("error", "", Need::Optional, 512);
      reply = r.ok() ? nlohmann::json{{"v", 1}, {"ok", ok}, {"error", error}, {"server", to.name}}
                     : refusal(op, to.name + " answered a malformed frame: " + r.error());
    }
    std::lock_guard<std::mutex> l(*env_.mu);
    env_.reply(client, reply);
  });
}

void Migrator::answer_admission(TcpPeerLink& link, const Frame& f) {
  Fields in(f.meta, "admit");
  const std::string mac = in.str("mac", "", Need::Required, 32), by = in.str("by", "?", Need::Optional, 128);
  const bool admit = in.boolean("admit", false);
  nlohmann::json reply;
  if (!in.ok()) reply = refusal("admit", in.error());
  else if (!env_.admission) reply = refusal(admit ? "admit" : "deny", "this node takes no admission answers");
  else reply = env_.admission(mac, admit, by);
  link.send({"admitted", reply, {}});
}

}  // namespace grappe
