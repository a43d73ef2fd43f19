#include "sim_network.h"

namespace grappe {

class SimNetwork::Box final : public Outbox {
 public:
  Box(SimNetwork& n, int from) : net_(n), from_(from) {}
  void send(uint32_t ipv4, uint16_t, const Message& m) override {
    // Addresses are 10.0.0.0 + index + 1: O(1) routing, however big the segment.
    size_t i = ipv4 - 0x0a000001u;
    if (ipv4 > 0x0a000000u && i < net_.nodes_.size() && net_.nodes_[i].ip == ipv4) net_.transmit(from_, static_cast<int>(i), m);
  }
  void beacon(const Message& m) override {  // one frame on the segment, seen by everyone
    auto data = std::make_shared<const std::vector<uint8_t>>(net_.frame(from_, m));
    for (size_t i = 0; i < net_.nodes_.size(); ++i)
      if (static_cast<int>(i) != from_) net_.deliver(from_, static_cast<int>(i), data);
  }

 private:
  SimNetwork& net_;
  int from_;
};

SimNetwork::SimNetwork(uint64_t seed, MembershipConfig cfg, double l, double delay)
    : loss(l), cfg_(cfg), delay_(delay), rng_(seed) {}

int SimNetwork::add_node(const std::string& name, uint32_t incarnation, uint16_t number) {
  Node n;
  n.name = name;
  for (auto& b : n.id) b = static_cast<uint8_t>(rng_());
  n.ip = 0x0a000000u + static_cast<uint32_t>(nodes_.size()) + 1;
  n.m = std::make_unique<Membership>(n.id, name, 7423, cfg_, rng_(), incarnation, number);
  nodes_.push_back(std::move(n));
  return static_cast<int>(nodes_.size()) - 1;
}

void SimNetwork::restart(int i, uint32_t incarnation) {
  auto& n = nodes_[i];
  n.m = std::make_unique<Membership>(n.id, n.name, 7423, cfg_, rng_(), incarnation, 0);
  n.up = true;
  n.paused = false;
}

std::vector<uint8_t> SimNetwork::frame(int from, const Message& msg) {
  Message m = msg;
  m.nonce = nonce_++;
  auto data = encode(m, nodes_[from].key);
  ++packets;
  bytes += data.size() + 28;  // IPv4 + UDP headers
  return data;
}

void SimNetwork::transmit(int from, int to, const Message& m) {
  deliver(from, to, std::make_shared<const std::vector<uint8_t>>(frame(from, m)));
}

void SimNetwork::deliver(int from, int to, const Frame& data) {
  if (data->empty()) return;
  std::uniform_real_distribution<double> u(0, 1);
  if (loss > 0 && u(rng_) < loss) return;
  if (cut && cut(from, to)) return;
  ++deliveries;
  queue_.push({now + delay_ * (0.5 + u(rng_)), to, data, nodes_[from].ip});
}

void SimNetwork::form_cluster() {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    nodes_[i].m->reserve(nodes_.size() + 16);
    for (size_t j = 0; j < nodes_.size(); ++j) {
      if (i == j) continue;
      MemberUpdate u;
      u.id = nodes_[j].id;
      u.name = nodes_[j].name;
      u.number = static_cast<uint16_t>(j + 1);
      u.ipv4 = nodes_[j].ip;
      u.port = 7423;
      u.incarnation = nodes_[j].m->self().incarnation;
      nodes_[i].m->seed(u, now);
    }
  }
}

void SimNetwork::step(double dt) {
  now += dt;
  while (!queue_.empty() && queue_.top().at <= now) {
    InFlight f = queue_.top();
    queue_.pop();
    auto& n = nodes_[f.to];
    if (!n.up || n.paused) continue;
    DecodeError err;
    auto m = decode(f.data->data(), f.data->size(), n.key, err);
    if (!m) {
      ++rejected;
      continue;
    }
    Box box(*this, f.to);
    n.m->receive(*m, f.src, 7423, now, box);
  }
  for (size_t i = 0; i < nodes_.size(); ++i) {
    auto& n = nodes_[i];
    if (!n.up || n.paused) continue;
    Box box(*this, static_cast<int>(i));
    n.m->tick(now, box);
  }
}

void SimNetwork::run_for(double seconds, double dt) {
  double end = now + seconds;
  while (now < end) step(dt);
}

MemberState SimNetwork::state_seen(int viewer, int who) const {
  if (viewer == who) return MemberState::Alive;
  const Member* m = nodes_[viewer].m->find(nodes_[who].id);
  return m ? m->state : MemberState::Dead;
}

bool SimNetwork::knows(int viewer, int who) const {
  return viewer == who || nodes_[viewer].m->find(nodes_[who].id) != nullptr;
}

bool SimNetwork::all_see(MemberState s, const std::vector<int>& who) const {
  for (size_t v = 0; v < nodes_.size(); ++v) {
    if (!nodes_[v].up || nodes_[v].paused) continue;
    for (int w : who)
      if (static_cast<int>(v) != w && (!knows(static_cast<int>(v), w) || state_seen(static_cast<int>(v), w) != s)) return false;
  }
  return true;
}

}  // namespace grappe
