#include "home/home_role.h"

#include <algorithm>

namespace grappe {
namespace {

// Higher term first, then the lower number.
bool outranks(const HomeNode& a, const HomeNode& b) {
  return a.ad.term != b.ad.term ? a.ad.term > b.ad.term : a.number < b.number;
}

template <class Pred>
std::optional<HomeNode> best(const HomeInput& in, Pred ok) {
  std::optional<HomeNode> b;
  auto consider = [&](const HomeNode& n) {
    if (n.number && ok(n) && (!b || outranks(n, *b))) b = n;
  };
  consider(in.self);
  for (const HomeNode& n : in.others) consider(n);
  return b;
}

std::string node_text(const HomeNode& n) { return "node " + std::to_string(n.number) + " (" + n.name + ")"; }

}  // namespace

void Quorum::observe(size_t present, bool serving) {
  if (known_ == 0 || present * 2 > known_ || (serving && present * 2 == known_)) known_ = present;
}

std::optional<HomeNode> current_server(const HomeInput& in) {
  return best(in, [](const HomeNode& n) { return n.ad.has(kHomeServer); });
}

uint16_t choose_standby(const HomeInput& in, uint16_t current) {
  const HomeNode* pick = nullptr;
  for (const HomeNode& n : in.others) {
    if (!n.number || n.number == in.self.number) continue;
    if (n.number == current && (n.ad.has(kHomeDisk) || in.self.ad.has(kHomeDisk))) return current;
    if (n.number == current) {
      bool disk_elsewhere = false;
      for (const HomeNode& o : in.others) disk_elsewhere |= o.number && o.number != in.self.number && o.ad.has(kHomeDisk);
      if (!disk_elsewhere) return current;
    }
    const bool disk = n.ad.has(kHomeDisk);
    if (!pick || (disk && !pick->ad.has(kHomeDisk)) || (disk == pick->ad.has(kHomeDisk) && n.number < pick->number))
      pick = &n;
  }
  return pick ? pick->number : 0;
}

HomePlan plan_home(const HomeInput& in) {
  HomePlan p;
  if (!in.self.number) return p.why = "waiting for this node's number", p;
  uint32_t max_term = in.self.ad.term;
  for (const HomeNode& n : in.others) max_term = std::max(max_term, n.ad.term);
  const auto srv = current_server(in);
  if (in.self.ad.has(kHomeServer)) {
    p.term = in.self.ad.term, p.server = in.self.number;
    if (srv && srv->number != in.self.number) {
      p.action = HomeAction::Demote, p.server = srv->number, p.term = srv->ad.term;
      p.why = node_text(*srv) + " serves /home at term " + std::to_string(srv->ad.term) + ", above this node's " +
              std::to_string(in.self.ad.term) + " (clusters that were apart merged): this node's copy is dropped";
      return p;
    }
    if (!in.self.ad.has(kHomeDisk))
      for (const HomeNode& n : in.others)
        if (n.ad.has(kHomeDiskData) && !n.ad.has(kHomeServer) && !n.ad.has(kHomeStandby) && n.ad.term >= in.self.ad.term) {
          p.action = HomeAction::Demote, p.server = n.number;
          p.why = node_text(n) + "'s GRAPPE-HOME disk holds /home at term " + std::to_string(n.ad.term) +
                  ", not older than this node's RAM-backed one (term " + std::to_string(in.self.ad.term) +
                  "): the disk's /home is served, this RAM copy is dropped";
          return p;
        }
    if (!in.majority && !in.tie) {
      p.action = HomeAction::Fence;
      p.why = "this node no longer sees a majority of the members it knew: it stops serving /home until they are back";
      return p;
    }
    p.action = HomeAction::Serve, p.standby = choose_standby(in, in.self.ad.standby);
    // The role follows the storage: a RAM-backed server gives /home to a standby that holds a
    // complete copy on a GRAPPE-HOME disk.
    for (const HomeNode& n : in.others)
      if (!in.self.ad.has(kHomeDisk) && n.number == p.standby && n.number == in.self.ad.standby && n.ad.term == p.term &&
          n.ad.has(kHomeStandby) && n.ad.has(kHomeInSync) && n.ad.has(kHomeDisk)) {
        p.action = HomeAction::HandOver;
        p.why = "node " + std::to_string(n.number) + " (" + n.name + ") holds a complete copy on a GRAPPE-HOME disk: /home goes to it";
        return p;
      }
    p.why = p.standby ? "serving /home, replicated to node " + std::to_string(p.standby)
                      : "serving /home alone (degraded: no other node to replicate to)";
    return p;
  }
  if (srv) {
    p.server = srv->number, p.term = srv->ad.term, p.standby = srv->ad.standby;
    p.action = srv->ad.standby == in.self.number ? HomeAction::Standby : HomeAction::Mount;
    p.why = (p.action == HomeAction::Standby ? "holding the replica of /home for " : "/home served by ") + node_text(*srv);
    return p;
  }
  // No server: the most recent complete copy takes over, unless a GRAPPE-HOME disk holds a /home
  // at least as recent (the founder below).
  auto disk = best(in, [](const HomeNode& n) { return n.ad.has(kHomeDiskData) && !n.ad.has(kHomeStandby); });
  auto copy = best(in, [](const HomeNode& n) { return n.ad.has(kHomeStandby) && n.ad.has(kHomeInSync); });
  if (copy && disk && disk->ad.term >= copy->ad.term) copy.reset();
  if (copy) {
    p.server = copy->number, p.term = max_term + 1;
    if (copy->number != in.self.number) {
      p.why = node_text(*copy) + " holds the copy of /home and takes it over";
      return p;
    }
    if (in.server_left_lately && !in.released) {
      p.why = "the server of /home left the cluster cleanly without handing it over (grapped restarting?): "
              "this node's copy waits a minute for it before taking over";
      return p;
    }
    if (!in.majority && !(in.released && copy->number == in.self.number)) {
      p.why = "this node holds the copy of /home but sees no majority of the members it knew, so it does not take "
              "it over (the server may still be serving on the other side): waiting for them";
      return p;
    }
    p.action = HomeAction::Promote;
    p.why = (in.released ? "the server of /home handed it over: this node's copy takes over at term "
                         : "the server of /home is gone: this node's copy takes over at term ") +
            std::to_string(p.term);
    return p;
  }
  // Nobody holds a copy (a new cluster, or the server died before its standby was in sync).
  // A node with a GRAPPE-HOME disk first (its data is /home), else the lowest number.
  std::optional<HomeNode> founder = disk ? disk : best(in, [](const HomeNode& n) { return n.ad.has(kHomeDisk); });
  if (!founder) {
    founder = in.self;
    for (const HomeNode& n : in.others)
      if (n.number && n.number < founder->number) founder = n;
  }
  p.server = founder->number, p.term = max_term + 1;
  if (founder->number != in.self.number) {
    p.why = node_text(*founder) + " starts /home";
    return p;
  }
  if (!in.majority) {
    p.why = "no node holds /home and this node sees no majority of the members it knew: waiting for them";
    return p;
  }
  p.action = HomeAction::Found;
  if (founder->ad.has(kHomeDiskData))
    return p.why = "this node's GRAPPE-HOME disk holds /home (term " + std::to_string(founder->ad.term) + "): served from it at term " +
                   std::to_string(p.term), p;
  p.why = max_term ? "no node holds a complete copy of /home (its server died before a standby was in sync): "
                     "a new, empty /home at term " + std::to_string(p.term)
                   : "a new /home at term " + std::to_string(p.term);
  return p;
}

}  // namespace grappe
