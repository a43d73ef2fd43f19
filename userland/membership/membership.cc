#include "membership/membership.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "common/loop_timer.h"

namespace grappe {
namespace {

// SWIM precedence: does (s1, i1) override what we believe, (s0, i0)?
bool live(const Member& m) { return m.state == MemberState::Alive || m.state == MemberState::Suspect; }

bool overrides(MemberState s1, uint32_t i1, MemberState s0, uint32_t i0) {
  auto terminal = [](MemberState s) { return s == MemberState::Dead || s == MemberState::Left; };
  if (terminal(s1)) return terminal(s0) ? i1 > i0 : i1 >= i0;
  if (terminal(s0)) return i1 > i0;  // a rejoin needs a newer incarnation
  if (s1 == MemberState::Suspect) return s0 == MemberState::Alive ? i1 >= i0 : i1 > i0;
  return i1 > i0;  // alive
}

}  // namespace

Membership::Membership(NodeId self, std::string name, uint16_t port, MembershipConfig cfg, uint64_t seed,
                       uint32_t incarnation, uint16_t number)
    : cfg_(cfg), rng_(seed) {
  self_.id = self;
  self_.name = Name(name);
  self_.port = port;
  self_.incarnation = incarnation;
  self_.number = number;
}

size_t Membership::live_count() const { return live_ids_.size() + 1; }

void Membership::track(Member& mb) {
  const uint32_t slot = members_.slot_of(mb);
  const bool was_live = mb.live_pos != Member::kNotLive;
  if (live(mb) && !was_live) {
    mb.live_pos = static_cast<uint32_t>(live_ids_.size());
    live_ids_.push_back(slot);
  } else if (!live(mb) && was_live) {
    uint32_t last = live_ids_.back();
    members_[last].live_pos = mb.live_pos;
    live_ids_[mb.live_pos] = last;
    live_ids_.pop_back();
    mb.live_pos = Member::kNotLive;
  }
  if (mb.state == MemberState::Suspect) suspects_.insert(slot);
  else suspects_.erase(slot);
  check_number(mb);
}

void Membership::check_number(const Member& mb) {
  if (self_.number != 0 && mb.number == self_.number && live(mb) && mb.id < self_.id) number_conflict_ = true;
}

Member* Membership::random_live(const NodeId& except1, const NodeId& except2) {
  for (int tries = 0; tries < 8 && !live_ids_.empty(); ++tries) {
    Member& m = members_[live_ids_[std::uniform_int_distribution<size_t>(0, live_ids_.size() - 1)(rng_)]];
    if (m.id != except1 && m.id != except2) return &m;
  }
  return nullptr;
}

double Membership::suspicion_timeout() const {
  double n = static_cast<double>(live_count());
  return std::max(2.0, cfg_.suspicion_mult * std::log2(n + 1)) * cfg_.period;
}

MemberUpdate Membership::record_of(const Member& m) const {
  MemberUpdate u;
  u.id = m.id;
  u.incarnation = m.incarnation;
  u.state = m.state;
  u.number = m.number;
  u.ipv4 = m.ipv4;  // 0 for self: the receiver uses the packet's source address
  u.port = m.port;
  u.name = m.name.str();
  return u;
}

Message Membership::make(MsgType t) const {
  Message m;
  m.type = t;
  m.sender = self_.id;
  m.updates.push_back(record_of(self_));
  return m;
}

void Membership::queue(const NodeId& id) { dissemination_[id] = 0; }

void Membership::piggyback(Message& m) {
  const int limit = 3 * static_cast<int>(std::ceil(std::log2(static_cast<double>(live_count()) + 1))) + 2;
  std::vector<std::pair<int, NodeId>> order;
  for (const auto& [id, n] : dissemination_) order.emplace_back(n, id);
  std::sort(order.begin(), order.end());
  for (const auto& [n, id] : order) {
    const Member* mb = id == self_.id ? &self_ : nullptr;
    if (!mb) mb = members_.find(id);
    if (!mb) continue;
    m.updates.push_back(record_of(*mb));
    if (encoded_size(m) > kMaxPacket - 200) {  // keep room for loads
      m.updates.pop_back();
      break;
    }
    if (++dissemination_[id] >= limit) dissemination_.erase(id);
  }
}

void Membership::set_state(Member& mb, MemberState s, uint32_t inc, double now) {
  bool changed = mb.state != s || mb.incarnation != inc;
  if (mb.state != s) {
    event(mb.name.str() + " (" + id_hex(mb.id).substr(0, 8) + ") " + state_name(mb.state) + " -> " + state_name(s) +
          " incarnation " + std::to_string(inc));
    if (s == MemberState::Suspect) ++stats_.suspicions;
    if (s == MemberState::Dead) ++stats_.deaths;
    mb.state_since = now;
  }
  mb.state = s;
  mb.incarnation = inc;
  track(mb);
  if (changed) queue(mb.id);
}

void Membership::refute(uint32_t seen_inc) {
  self_.incarnation = std::max(self_.incarnation, seen_inc) + 1;
  ++stats_.refutations;
  event("refuting suspicion: incarnation " + std::to_string(self_.incarnation));
  queue(self_.id);
}

void Membership::apply(const MemberUpdate& u, const Message& m, uint32_t src_ip, double now, Outbox& out) {
  if (u.id == self_.id) {
    if ((u.state != MemberState::Alive) && u.incarnation >= self_.incarnation) refute(u.incarnation);
    if (self_.number == 0 && u.number != 0) {  // restarted: the cluster remembers our number
      self_.number = u.number;
      if (on_number) on_number(self_.number);
      queue(self_.id);
    }
    return;
  }
  const bool about_sender = u.id == m.sender;
  Member* found = members_.find(u.id);
  if (!found) {
    if (u.ipv4 == 0 && !about_sender) return;  // no address to reach it by
    Member fresh;
    fresh.id = u.id;
    fresh.name = Name(u.name);
    fresh.number = u.number;
    // A member is reached where its own packets come from; others at the address gossiped.
    fresh.ipv4 = about_sender ? src_ip : u.ipv4;
    fresh.port = u.port;
    fresh.state = u.state;
    fresh.incarnation = u.incarnation;
    fresh.state_since = now;
    fresh.last_heard = about_sender ? now : 0;
    Member& mb = members_[members_.insert(std::move(fresh))];
    track(mb);
    queue(u.id);
    event("discovered " + u.name + " (" + id_hex(u.id).substr(0, 8) + ") " + state_name(u.state));
    // A newcomer learns the whole table, dead members and their numbers included, from a few
    // of the nodes that see it (each answers with probability ~4/n, so joins cost O(1) each).
    if (about_sender && u.state == MemberState::Alive && one_of_a_few()) sync_to(mb, out);
    return;
  }
  Member& mb = *found;
  if (about_sender) {
    mb.last_heard = now;
    mb.ipv4 = src_ip;
    // Still undecided: it has no number yet, so the table answering its first beacon was lost
    // or has not arrived. Answer each of its beacons until it chooses, or it may take a dead
    // member's number it never heard of.
    if (m.type == MsgType::Beacon && u.number == 0 && self_.number != 0 && u.state == MemberState::Alive &&
        one_of_a_few())
      sync_to(mb, out);
    if ((mb.state == MemberState::Dead || mb.state == MemberState::Left) && !overrides(u.state, u.incarnation, mb.state, mb.incarnation)) {
      // It talks to us but we hold it dead: tell it directly, so it can refute and rejoin.
      Message tell = make(MsgType::Beacon);
      tell.updates.push_back(record_of(mb));
      out.send(src_ip, u.port, tell);
    }
  }
  if (u.incarnation >= mb.incarnation) {
    if (!(mb.name.str() == u.name)) mb.name = Name(u.name);
    mb.port = u.port;
    if (u.number) mb.number = u.number;
    if (u.ipv4 && !about_sender) mb.ipv4 = u.ipv4;
    check_number(mb);
  }
  if (overrides(u.state, u.incarnation, mb.state, mb.incarnation)) set_state(mb, u.state, u.incarnation, now);
}

void Membership::apply_loads(const std::vector<LoadInfo>& loads, double now) {
  for (const auto& l : loads) {
    if (l.id == self_.id) continue;
    Member* mb = members_.find(l.id);
    if (!mb) continue;
    if (mb->load && l.version <= mb->load->info.version) continue;
    if (mb->load && uint64_t{l.load_milli} + 500 <= mb->load->info.load_milli) ++load_drops_;
    if (!mb->load) mb->load = std::make_unique<MemberLoad>();
    mb->load->info = l;
    mb->load->time = now - l.age_ms / 1000.0;
  }
}

void Membership::seed(const MemberUpdate& u, double now) {
  Member fresh;
  fresh.id = u.id;
  fresh.name = Name(u.name);
  fresh.number = u.number;
  fresh.ipv4 = u.ipv4;
  fresh.port = u.port;
  fresh.state = u.state;
  fresh.incarnation = u.incarnation;
  fresh.state_since = fresh.last_heard = now;
  track(members_[members_.insert(std::move(fresh))]);
}

void Membership::set_local_load(const LoadInfo& l, double now) {
  if (!self_.load) self_.load = std::make_unique<MemberLoad>();
  self_.load->info = l;
  self_.load->info.id = self_.id;
  self_.load->info.version = ++load_version_;
  self_.load->time = now;
}

void Membership::receive(const Message& m, uint32_t src_ip, uint16_t src_port, double now, Outbox& out) {
  if (m.sender == self_.id) return;
  for (const auto& u : m.updates) apply(u, m, src_ip, now, out);
  apply_loads(m.loads, now);
  switch (m.type) {
    case MsgType::Ping:
      if (m.target == self_.id) {
        Message ack = make(MsgType::Ack);
        ack.seq = m.seq;
        piggyback(ack);
        out.send(src_ip, src_port, ack);
      }
      break;
    case MsgType::Ack: {
      if (probing_ && m.seq == probe_seq_) acked_ = true;
      auto r = relays_.find(m.seq);
      if (r != relays_.end()) {
        Message ack = make(MsgType::Ack);
        ack.seq = r->second.seq;
        out.send(r->second.ipv4, r->second.port, ack);
        relays_.erase(r);
      }
      break;
    }
    case MsgType::PingReq: {
      // Probe only a member this node knows, at the address it knows: a ping-req never makes it
      // send to an address the request names.
      const Member* t = members_.find(m.target);
      if (!t || t->state == MemberState::Dead || t->state == MemberState::Left || !t->ipv4) break;
      Message ping = make(MsgType::Ping);
      ping.seq = next_seq_++;
      ping.target = m.target;
      piggyback(ping);
      relays_[ping.seq] = {src_ip, src_port, m.seq, now + cfg_.period * 2};
      out.send(t->ipv4, t->port, ping);
      break;
    }
    default:
      break;
  }
}

bool Membership::one_of_a_few() {
  return std::uniform_real_distribution<double>(0, 1)(rng_) < 4.0 / static_cast<double>(live_count());
}

void Membership::sync_to(const Member& to, Outbox& out) {
  Message m = make(MsgType::Beacon);
  for (const auto& mb : members_) {
    if (mb.id == to.id) continue;
    m.updates.push_back(record_of(mb));
    if (encoded_size(m) > kMaxPacket) {
      m.updates.pop_back();
      out.send(to.ipv4, to.port, m);
      m = make(MsgType::Beacon);
      m.updates.push_back(record_of(mb));
    }
  }
  if (m.updates.size() > 1) out.send(to.ipv4, to.port, m);
}

void Membership::probe(double now, Outbox& out) {
  // Conclude the previous probe.
  if (probing_ && !acked_) {
    Member* t = members_.find(probe_target_);
    if (t && t->state == MemberState::Alive) set_state(*t, MemberState::Suspect, t->incarnation, now);
  }
  probing_ = false;
  if (live_ids_.empty()) return;
  if (probe_index_ >= probe_order_.size()) {
    probe_order_ = live_ids_;
    std::shuffle(probe_order_.begin(), probe_order_.end(), rng_);
    probe_index_ = 0;
  }
  while (probe_index_ < probe_order_.size()) {
    const Member& t = members_[probe_order_[probe_index_++]];
    if (!live(t)) continue;
    probing_ = true;
    acked_ = false;
    indirect_sent_ = false;
    probe_target_ = t.id;
    probe_seq_ = next_seq_++;
    probe_started_ = now;
    Message ping = make(MsgType::Ping);
    ping.seq = probe_seq_;
    ping.target = probe_target_;
    piggyback(ping);
    out.send(t.ipv4, t.port, ping);
    ++stats_.probes;
    return;
  }
}

void Membership::choose_number(double now) {
  if (self_.number != 0) {
    // Two nodes on one number (simultaneous starts): the smaller id keeps it. track() and
    // apply() flag it, so a settled node never scans its table here.
    if (!number_conflict_) return;
    number_conflict_ = false;
    for (const auto& m : members_)
      if (m.number == self_.number && live(m) && m.id < self_.id) {
        event("node number " + std::to_string(self_.number) + " is taken by " + m.name.str() + "; choosing another");
        self_.number = 0;
        break;
      }
    if (self_.number != 0) return;
  } else if (now - started_ < cfg_.number_delay) {
    return;
  }
  // Nodes that start together see each other undecided: each takes the free number matching
  // its rank among them (by id), so they do not all grab the same one.
  std::set<uint16_t> used;
  size_t rank = 0;
  for (const auto& m : members_) {
    used.insert(m.number);
    if (m.number == 0 && live(m) && m.id < self_.id) ++rank;
  }
  uint16_t n = 0;
  for (size_t skipped = 0;;) {
    ++n;
    if (used.count(n)) continue;
    if (skipped++ == rank) break;
  }
  self_.number = n;
  event("node number " + std::to_string(n));
  queue(self_.id);
  if (on_number) on_number(n);
}

void Membership::tick(double now, Outbox& out) {
  if (started_ < 0) start(now);
  if (now >= next_probe_) choose_number(now);  // once per period: it scans the table
  if (now >= next_beacon_) {
    Message b = make(MsgType::Beacon);
    piggyback(b);
    out.beacon(b);
    // Every node beacons: past 32 nodes they space out so the segment carries ~32 a second.
    next_beacon_ = next_due(next_beacon_, now, cfg_.beacon_interval * std::max(1.0, static_cast<double>(live_count()) / 32.0));
  }
  if (now >= next_probe_) {
    probe(now, out);
    next_probe_ = next_due(next_probe_, now, cfg_.period);
  }
  if (probing_ && !acked_ && !indirect_sent_ && now - probe_started_ >= cfg_.ping_timeout) probe_indirectly(out);
  expire_suspects(now);
  const bool early = load_soon_ && now - last_load_sent_ >= 0.1;
  if (now >= next_load_ || early) {
    if (now >= next_load_) next_load_ = next_due(next_load_, now, cfg_.load_interval);
    load_soon_ = false;
    last_load_sent_ = now;
    if (!live_ids_.empty() && self_.load) gossip_load(now, out);
  }
}

void Membership::start(double now) {
  started_ = now;
  next_beacon_ = next_probe_ = next_load_ = now;
  // Seeded with a formed cluster: spread the first beacons over one interval, or N nodes
  // starting together would put N beacons on the segment at once.
  if (live_count() > 1)
    next_beacon_ = now + std::uniform_real_distribution<double>(0, 1)(rng_) * cfg_.beacon_interval *
                             std::max(1.0, static_cast<double>(live_count()) / 32.0);
  queue(self_.id);
}

void Membership::probe_indirectly(Outbox& out) {
  indirect_sent_ = true;
  const Member* target = members_.find(probe_target_);
  std::vector<Member*> helpers;
  for (int tries = 0; tries < cfg_.indirect * 3 && static_cast<int>(helpers.size()) < cfg_.indirect; ++tries) {
    Member* h = random_live(probe_target_, self_.id);
    if (h && h->state == MemberState::Alive && std::find(helpers.begin(), helpers.end(), h) == helpers.end())
      helpers.push_back(h);
  }
  for (size_t i = 0; i < helpers.size() && target; ++i) {
    Message req = make(MsgType::PingReq);
    req.seq = probe_seq_;
    req.target = probe_target_;
    req.target_ipv4 = target->ipv4;
    req.target_port = target->port;
    piggyback(req);
    out.send(helpers[i]->ipv4, helpers[i]->port, req);
    ++stats_.indirect_probes;
  }
}

void Membership::expire_suspects(double now) {
  const double timeout = suspicion_timeout();
  std::vector<uint32_t> expired;
  for (uint32_t slot : suspects_)
    if (now - members_[slot].state_since >= timeout) expired.push_back(slot);
  for (uint32_t slot : expired) set_state(members_[slot], MemberState::Dead, members_[slot].incarnation, now);
  for (auto it = relays_.begin(); it != relays_.end();) it = it->second.expires < now ? relays_.erase(it) : std::next(it);
}

void Membership::gossip_load(double now, Outbox& out) {
  Message lm = make(MsgType::Load);
  LoadInfo mine = self_.load->info;
  mine.age_ms = static_cast<uint32_t>(std::max(0.0, (now - self_.load->time) * 1000));
  lm.loads.push_back(mine);
  // The freshest entries we hold: all of them in small clusters, a random sample of 64 in
  // large ones, so a gossip round stays O(1) however big the cluster.
  std::vector<const Member*> fresh;
  if (live_ids_.size() <= 64) {
    for (uint32_t slot : live_ids_)
      if (members_[slot].load && members_[slot].state == MemberState::Alive) fresh.push_back(&members_[slot]);
  } else {
    for (int i = 0; i < 64; ++i)
      if (Member* m = random_live(self_.id, self_.id); m && m->load && m->state == MemberState::Alive &&
                                                        std::find(fresh.begin(), fresh.end(), m) == fresh.end())
        fresh.push_back(m);
  }
  size_t k = std::min(fresh.size(), static_cast<size_t>(cfg_.load_window));
  std::partial_sort(fresh.begin(), fresh.begin() + static_cast<long>(k), fresh.end(),
                    [](const Member* a, const Member* b) { return a->load->time > b->load->time; });
  for (const Member* m : fresh) {
    if (static_cast<int>(lm.loads.size()) >= cfg_.load_window) break;
    LoadInfo l = m->load->info;
    l.age_ms = static_cast<uint32_t>(std::max(0.0, (now - m->load->time) * 1000));
    lm.loads.push_back(l);
    if (encoded_size(lm) > kMaxPacket) {
      lm.loads.pop_back();
      break;
    }
  }
  piggyback(lm);
  while (encoded_size(lm) > kMaxPacket) lm.updates.pop_back();
  for (int i = 0; i < cfg_.load_fanout; ++i)
    if (Member* p = random_live(self_.id, self_.id)) out.send(p->ipv4, p->port, lm);
}

void Membership::leave(double now, Outbox& out) {
  self_.state = MemberState::Left;
  Message b = make(MsgType::Leave);
  b.updates[0].state = MemberState::Left;
  out.beacon(b);
  for (uint32_t slot : live_ids_) {
    const Member& p = members_[slot];
    out.send(p.ipv4, p.port, b);
  }
  event("leaving the cluster");
  (void)now;
}

}  // namespace grappe
