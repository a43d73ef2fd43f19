#include "balance/balance_loop.h"

namespace grappe {

void BalanceLoop::admin_op(const std::string& op, double now) {
  if (op == "expel") expel_until_ = now + 120;
  if (op == "bring") bring_until_ = now + 120;
  if (op == "expel" || op == "bring") recalled_.clear();
  if (op == "unblock") expel_until_ = 0;  // the admin changed their mind: guests may stay
  if (op == "nolstay") bring_until_ = 0;  // and jobs may go out again
}

void BalanceLoop::step(double now, BalanceWorld& w) {
  recall(now, w, w.jobs());
  const int outgoing = place(now, w, w.jobs());  // afresh: a recall may have started moves
  if (w.load_drops() != seen_drops_) {  // a peer just freed CPU: a round now, not in up to a second
    seen_drops_ = w.load_drops();
    auto_.hurry(now);
  }
  round(now, w, outgoing);
}

// Within the expel/bring windows: jobs that were on their way (or busy) when the command came.
void BalanceLoop::recall(double now, BalanceWorld& w, const std::vector<BalanceJob>& jobs) {
  if ((now >= expel_until_ && now >= bring_until_) || now < next_recall_) return;
  next_recall_ = now + 1;
  const std::string self = w.self_name();
  for (const BalanceJob& j : jobs) {
    if (!j.running || j.migrating || j.busy || recalled_.count(j.id)) continue;
    const bool expel = now < expel_until_ && j.guest, bring = now < bring_until_ && j.remote && j.home == self;
    if ((expel || bring) && w.move(j.id, j.home, expel ? "grappe node expel" : "grappe node bring").empty() &&
        recalled_.insert(j.id).second)
      w.log("admin: job " + j.id + " was on its way during node " + (expel ? "expel" : "bring") + "; sending it home");
  }
}

// grappe run --node N, once the job has started; counts the moves from here in flight.
int BalanceLoop::place(double now, BalanceWorld& w, const std::vector<BalanceJob>& jobs) {
  int outgoing = 0;
  for (const BalanceJob& j : jobs) {
    if (!j.running || j.remote) continue;
    outgoing += j.migrating;
    if (!j.place || j.migrating || now - j.started <= 0.5) continue;
    w.place_done(j.id);
    const std::string place = std::to_string(j.place);
    auto to = w.node_name(j.place);
    std::string why = to ? w.move(j.id, *to, "grappe run --node " + place) : "node " + place + " is gone";
    if (!why.empty()) w.tell(j.id, "grappe: job " + j.id + " stays on " + w.self_name() + ": " + why + "\n");
    else ++outgoing;
  }
  return outgoing;
}

void BalanceLoop::round(double now, BalanceWorld& w, int outgoing) {
  if (!w.unavailable().empty() || !auto_.due(now, outgoing)) return;
  for (const Decision& d : auto_.round(now, w.self_view(), w.local_jobs(), w.peer_views(now), outgoing)) {
    auto to = w.node_name(d.target);
    std::string why = to ? w.move(d.job, *to, "balancer: " + d.reason) : "node is gone";
    w.log("balancer: job " + d.job + " to node " + std::to_string(d.target) + ": " + d.reason +
          (why.empty() ? "" : " — not started: " + why));
  }
}

}  // namespace grappe
