#include "daemon/daemon.h"

#include <climits>
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "migration/criu_checkpointer.h"
#include "common/console_echo.h"
#include "common/json_fields.h"
#include "common/loop_timer.h"
#include "daemon/api_admission.h"
#include "daemon/api_commands.h"
#include "common/mono_clock.h"
#include "common/text_file.h"

namespace grappe {
namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

}  // namespace

// Sends through the daemon's socket: unicast, and beacons to the multicast group and the
// broadcast address of every IPv4 interface (each copy signed with its own nonce).
class Daemon::Udp final : public Outbox {
 public:
  explicit Udp(Daemon& d) : d_(d) {}
  void send(uint32_t ipv4, uint16_t port, const Message& m) override {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = ipv4;
    to.sin_port = htons(port);
    emit(m, to);
  }
  void beacon(const Message& m) override {
    // Every beacon goes to the multicast group; every 4th also to the broadcast address, for
    // segments that filter multicast (discovery there takes up to 4 beacon intervals).
    const bool with_broadcast = d_.cfg_.broadcast && d_.beacons_++ % 4 == 0;
    d_.for_each_segment(with_broadcast, [&](const sockaddr_in& to) { emit(m, to); });
  }

 private:
  void emit(const Message& msg, const sockaddr_in& to) {
    Message m = msg;
    m.nonce = d_.nonce_++;
    auto bytes = encode(m, d_.ring_->current().key);
    if (bytes.empty()) return;
    if (::sendto(d_.udp_, bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) < 0)
      ++d_.counters_.send_errors;
    else
      ++d_.counters_.sent, d_.counters_.bytes_sent += bytes.size();
  }
  Daemon& d_;
};

void Daemon::for_each_segment(bool with_broadcast, const std::function<void(const sockaddr_in& to)>& fn) {
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return;
  in_addr group{};
  inet_pton(AF_INET, cfg_.group.c_str(), &group);
  for (ifaddrs* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
      continue;
    if (!cfg_.interfaces.empty() && std::find(cfg_.interfaces.begin(), cfg_.interfaces.end(), i->ifa_name) == cfg_.interfaces.end())
      continue;
    in_addr local = reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr;
    ip_mreq mreq{};
    mreq.imr_multiaddr = group;
    mreq.imr_interface = local;
    ::setsockopt(udp_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq);  // EADDRINUSE once joined
    ::setsockopt(udp_, IPPROTO_IP, IP_MULTICAST_IF, &local, sizeof local);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(cfg_.port);
    to.sin_addr = group;
    fn(to);
    if (with_broadcast && (i->ifa_flags & IFF_BROADCAST) && i->ifa_broadaddr) {
      to.sin_addr = reinterpret_cast<sockaddr_in*>(i->ifa_broadaddr)->sin_addr;
      fn(to);
    }
  }
  freeifaddrs(ifs);
}

Daemon::Daemon(DaemonConfig cfg, DaemonIdentity ident)
    : cfg_(std::move(cfg)),
      ident_(ident),
      mb_(ident.id, ident.name, cfg_.port, MembershipConfig{}, randombytes_random() | (uint64_t{randombytes_random()} << 32),
          ident.incarnation, ident.number),
      jobs_(spawner_, cfg_.job_init, ident.name),
      admin_(load_node_admin(cfg_.state_dir + "/admin.json")) {
  ring_ = std::make_shared<KeyRing>(KeyEpoch{ident_.creds.epoch, ident_.creds.op});
  nonce_ = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch()).count()) << 12;
  info_.cluster = ident_.cluster;
  info_.key_fingerprint = key_fingerprint(ident_.creds.op);
  epoch_seen_ = ident_.creds.epoch;
  load_forgotten();
  info_.socket = cfg_.socket;
  info_.port = cfg_.port;
  // Per-PC settings from the node that served this network boot (boot-nodes.toml there).
  if (std::string flags = apply_boot_flags(admin_, read_text(cfg_.cmdline_path)); !flags.empty()) {
    try {
      save_node_admin(cfg_.state_dir + "/admin.json", admin_);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "grapped: %s\n", e.what());
    }
    std::printf("grapped: flags %s set at boot by the serving node (grappe.flags on the kernel command line)\n", flags.c_str());
  }
  open_udp();
  open_api();
  mb_.on_event = [this](const std::string& s) {
    double wall = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::fprintf(stderr, "grapped: [%.3f] %s\n", wall, s.c_str());
  };
  mb_.on_number = [this](uint16_t n) {
    jobs_.set_node_number(n);
    save_state();
  };
  wire_jobs();
  start_migrator();
  router_ = api_router();
}

void Daemon::open_udp() {
  udp_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  ::setsockopt(udp_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(udp_, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_port = htons(cfg_.port);
  if (udp_ < 0 || ::bind(udp_, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0)
    throw std::runtime_error("cannot bind UDP port " + std::to_string(cfg_.port) + ": " + std::strerror(errno) +
                             " (another grapped running? set [discovery] port)");
}

void Daemon::open_api() {
  std::filesystem::create_directories(std::filesystem::path(cfg_.socket).parent_path());
  ::unlink(cfg_.socket.c_str());
  api_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, cfg_.socket.c_str(), sizeof sa.sun_path - 1);
  // Everyone may connect: each request is judged by the caller's SO_PEERCRED credentials
  // (jobs run as their caller; only the owner or root may act on a job).
  mode_t old = ::umask(0111);
  int rc = ::bind(api_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  ::umask(old);
  if (rc != 0 || ::listen(api_, 128) != 0)
    throw std::runtime_error("cannot listen on " + cfg_.socket + ": " + std::strerror(errno));
}

// The job service's ways back into the daemon: lines to a client, its backlog, closing it.
void Daemon::wire_jobs() {
  jobs_.set_node_number(ident_.number);
  jobs_.set_next_seq(ident_.job_seq);
  jobs_.send = [this](int id, const nlohmann::json& ev) {
    size_t i = client_index(id);
    if (i < clients_.size()) clients_[i].out += dump_safe(ev) + "\n", wake_loop();
  };
  jobs_.congested = [this](int id) {
    size_t i = client_index(id);
    return i < clients_.size() && clients_[i].out.size() > (1u << 20);
  };
  jobs_.finish = [this](int id) {
    size_t i = client_index(id);
    if (i < clients_.size()) clients_[i].closing = true;
  };
  jobs_.log = [this](const std::string& s) { mb_.on_event(s); };
  jobs_.placeable = [this](int node) { return placeable(node); };
  jobs_.stays = [this](const Job& j) { return balance_.balancer().why_stays(j.id); };
  jobs_.on_ended = [this](const Job& j) { record_history(j); };
  speed_est_ = SpeedEstimate(ident_.speed);
  if (std::string why = history_.load_file(store_, cfg_.state_dir + "/history.json"); !why.empty())
    std::fprintf(stderr, "grapped: job history: %s (the rest is kept)\n", why.c_str());
  adopt_jobs();
}

void Daemon::start_migrator() {
  MigratorEnv env;
  env.mu = &mu_;
  env.jobs = &jobs_;
  env.keys = ring_;
  env.self = ident_.id;
  env.work_dir = cfg_.state_dir + "/migrate";
  env.place = [this](const std::string& id, const std::vector<pid_t>& pids) {
    return scope_ ? scope_->place(id, pids) : std::string("no systemd scope");
  };
  env.precopy_min_kb = uint64_t{cfg_.precopy_min_mb} << 10;
  env.resolve = [this](const std::string& node) { return resolve_node(node); };
  env.alive = [this](const std::string& name) { return node_alive(name); };
  env.reply = [this](int id, const nlohmann::json& r) {
    size_t i = client_index(id);
    if (i < clients_.size()) clients_[i].out += dump_safe(r) + "\n", clients_[i].closing = true, wake_loop();
  };
  env.log = [this](const std::string& s) { mb_.on_event(s); };
  env.admission = [this](const std::string& mac, bool admit, const std::string& by) {
    return answer_here(mac, admit, by);
  };
  env.rekeyed = [this](const KeyEpoch& next, bool grace, const ForgottenList& list) { return take_rekey(next, grace, list); };
  env.forgotten_shared = [this](const ForgottenList& list) { adopt_forgotten(list); };
  env.abandoned = [this](uint32_t epoch, const std::string& fpr) {
    std::lock_guard<std::mutex> l(mu_);
    if (auto k = ring_->staged(now_s()); k && k->epoch == epoch && key_fingerprint(k->key) == fpr) {
      ring_->unstage(epoch);
      pending_list_.reset();
      mb_.on_event("rekey to key epoch " + std::to_string(epoch) + " abandoned by the member that started it");
    }
  };
  env.forgotten = [this](const NodeId& id) { return is_forgotten(id); };
  env.speed = [this] { return static_cast<double>(admin_.speed ? admin_.speed : ident_.speed); };
  env.moved_out = [this](double freeze_s, uint64_t bytes) { balance_.balancer().observed(freeze_s, static_cast<double>(bytes) / 1048576); };
  env.migrated = [this](const nlohmann::json& move) {
    if (dash_) dash_->event("move", move);
  };
  env.admit = [this](const nlohmann::json& offer) {
    Fields f(offer, "offer");
    const int64_t home = f.integer("home_number", 0, 0, 65535);
    return admin_.admit(f.ok() && home == mb_.self().number, guests());
  };
  mig_ = std::make_unique<Migrator>(std::move(env), make_checkpointer);
  mig_->listen(cfg_.port);
  mig_->resume_guests();  // guests adopted from jobs.json (wire_jobs) get their relay again
}

// The local API's table (api_commands.h), over this daemon's parts and its admin commands.
ApiRouter Daemon::api_router() {
  ApiParts p;
  p.jobs = &jobs_;
  p.nodes = [this](double now) {
    nlohmann::json r = nodes_reply(mb_, now);
    add_pending(r, info_.boot, ident_.name);
    if (!home_degraded_.empty()) r["home_degraded"] = home_degraded_;
    return r;
  };
  p.status = [this](double now) {
    info_.migration = mig_->unavailable().empty() ? "ready" : mig_->unavailable();
    info_.handshakes = mig_->handshakes();
    info_.keys = keys_status();
    return status_reply(mb_, info_, counters_, now);
  };
  AdminEnv env;
  env.admin = &admin_;
  env.file = cfg_.state_dir + "/admin.json";
  env.jobs = &jobs_.table();
  env.balance = &balance_;
  env.move = [this](const std::string& job, const std::string& to, const std::string& why) { return mig_->move(job, to, -1, why); };
  env.log = [this](const std::string& s) { mb_.on_event(s); };
  env.local_policy = cfg_.boot_admission;
  admin_cmds_ = std::make_unique<AdminCommands>(std::move(env));
  p.node = [this](const std::string& op, const std::string& value, const Caller& who) {
    if (op == "home-hand-over") return home_hand_over(value == "kill", who);
    nlohmann::json r = admin_cmds_->node(op, value, who, mb_.self().name.str(), last_sample_, ident_.speed);
    // Expelled: /home goes to its standby too (when no process here holds it; `grappe home` says).
    if (op == "expel" && r.value("ok", false) && home_) {
      const std::string why = home_->request_hand_over(false);
      if (why.empty()) r["home"] = "this node serves /home: handing it over to its standby (grappe home shows how it went)";
      else if (why != HomeShare::kNotServing) r["home"] = "/home stays served from here: " + why;
    }
    return r;
  };
  p.boot = [this](const std::string& op, const std::string& value, const Caller& who) {
    if (op == "admit" || op == "deny") return answer_admission(op, value, who);
    return admin_cmds_->boot(op, value, who, info_.boot);
  };
  p.migrate = [this](const nlohmann::json& req, const Caller& who) { return mig_->request(req, who); };
  p.cluster = [this](const std::string& op, const std::string& value, const Caller& who) {
    return cluster_command(op, value, who);
  };
  p.job_started = [this] { save_state(); };
  p.dashboard = [this](const Caller& who) { return dashboard_token(who); };
  return make_api_router(std::move(p));
}

std::optional<PeerAddr> Daemon::resolve_node(const std::string& node) const {
  const Member& me = mb_.self();
  if (node == me.name.str() || node == std::to_string(me.number))
    return PeerAddr{htonl(INADDR_LOOPBACK), cfg_.port, me.name.str(), me.number, true};
  for (const Member& m : mb_.members())
    if ((m.state == MemberState::Alive || m.state == MemberState::Suspect) && m.ipv4 &&
        (node == m.name.str() || (m.number && node == std::to_string(m.number))))
      return PeerAddr{m.ipv4, m.port, m.name.str(), m.number, false};
  return std::nullopt;
}

bool Daemon::node_alive(const std::string& name) const {
  // A name may come back with a new incarnation: one live entry under it is enough.
  bool dead = false;
  for (const Member& m : mb_.members()) {
    if (m.name.str() != name) continue;
    if (m.state == MemberState::Alive || m.state == MemberState::Suspect) return true;
    dead = true;
  }
  return !dead;
}

Daemon::~Daemon() {
  if (udp_ >= 0) ::close(udp_);
  if (api_ >= 0) ::close(api_);
  for (int fd : wake_)
    if (fd >= 0) ::close(fd);
  for (auto& c : clients_) ::close(c.fd);
  ::unlink(cfg_.socket.c_str());
}

void Daemon::save_state() {
  std::filesystem::create_directories(cfg_.state_dir);
  std::string tmp = cfg_.state_dir + "/state.json.tmp";
  {
    std::ofstream o(tmp);
    o << nlohmann::json{{"number", mb_.self().number}, {"incarnation", mb_.self().incarnation},
                        {"job_seq", jobs_.next_seq()}}.dump()
      << "\n";
  }
  std::filesystem::rename(tmp, cfg_.state_dir + "/state.json");
}

void Daemon::receive_udp(double now) {
  uint8_t buf[2048];
  Udp out(*this);
  for (int burst = 0; burst < 256; ++burst) {
    sockaddr_in from{};
    socklen_t fl = sizeof from;
    ssize_t n = ::recvfrom(udp_, buf, sizeof buf, MSG_TRUNC, reinterpret_cast<sockaddr*>(&from), &fl);
    if (n < 0) return;
    ++counters_.received;
    counters_.bytes_received += static_cast<uint64_t>(n);
    DecodeError err;
    std::optional<Message> m;
    if (static_cast<size_t>(n) > sizeof buf) err = DecodeError::TooLong;
    else if (receive_rejoin(buf, static_cast<size_t>(n), from, now)) continue;
    else m = decode_any(buf, static_cast<size_t>(n), err, now);
    if (!m) {
      ++counters_.rejected[decode_error_name(err)];
      continue;
    }
    if (m->sender == ident_.id) continue;  // our own multicast/broadcast looping back
    if (is_forgotten(m->sender)) {
      ++counters_.rejected["forgotten"];
      continue;
    }
    if (!replay_[m->sender].accept(m->nonce)) {
      ++counters_.replayed;
      continue;
    }
    ++counters_.accepted;
    mb_.receive(*m, from.sin_addr.s_addr, ntohs(from.sin_port), now, out);
  }
}

// The console's account of this node's cluster: "founded" once a node that found no peer in its
// discovery wait has taken its number (a PC alone is a cluster of one), "joined" once it sees
// another member (the founder too, when the second node comes).
// stdout is the journal and /dev/console (grapped.service); the line also goes to the node's
// other consoles, so the serial port shows it whichever console is primary.
void Daemon::announce_cluster() {
  auto say = [](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    echo_to_other_consoles(line);
  };
  if (!announced_found_ && !announced_join_ && mb_.live_count() == 1 && mb_.self().number != 0) {
    announced_found_ = true;
    say("grappe: founded cluster " + ident_.cluster + " nodes=1");
  }
  if (!announced_join_ && mb_.live_count() >= 2) {
    announced_join_ = true;
    say("grappe: joined cluster " + ident_.cluster + " nodes=" + std::to_string(mb_.live_count()));
  }
}

size_t Daemon::client_index(int id) const {
  for (size_t i = 0; i < clients_.size(); ++i)
    if (clients_[i].who.client == id) return i;
  return clients_.size();
}

int Daemon::next_connection_id() {
  // Never a live connection's id, and not reused until 2^31 connections later: a reply or event
  // meant for a client that left never reaches a newcomer (a file descriptor is reused at once).
  next_id_ = next_id_ == INT_MAX ? 1 : next_id_ + 1;
  return next_id_;
}

void Daemon::dispatch(size_t ci, const std::string& line, double now) {
  ApiReply r = router_.route(line, clients_[ci].who, now);
  Client& c = clients_[ci];
  if (!r.body.is_null()) c.out += dump_safe(r.body) + "\n";
  c.streaming = r.attached;
  if (!c.streaming) c.closing = true;
}

void Daemon::accept_clients(double now) {
  for (int burst = 0; burst < 256; ++burst) {
    int fd = ::accept4(api_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) break;
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      ::close(fd);
      continue;
    }
    const size_t from_uid = std::count_if(clients_.begin(), clients_.end(), [&](const Client& c) { return c.who.uid == cred.uid; });
    if (std::string why = api_admission(cred.uid, from_uid, clients_.size()); !why.empty()) {
      const std::string line = dump_safe(api_error(why)) + "\n";
      [[maybe_unused]] auto n = ::send(fd, line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      ::close(fd);
      continue;
    }
    clients_.push_back(Client{fd, {}, {}, now, Caller{cred.uid, cred.gid, cred.pid, next_connection_id()}});
  }
}

// One read per loop turn and at most 64 lines from it, so a client that floods is served in turn
// with the others. A line over 1 MiB is refused and its connection closed; a line cut by the
// client going away is dropped. An exception from a handler closes only this connection.
void Daemon::read_client(size_t i, double now) {
  char b[16384];
  const ssize_t n = ::read(clients_[i].fd, b, sizeof b);
  const int err = n < 0 ? errno : 0;
  if (n > 0) clients_[i].buf.append(b, static_cast<size_t>(n));
  for (int lines = 0; lines < 64 && !clients_[i].closing; ++lines) {
    Client& c = clients_[i];
    const size_t nl = c.buf.find('\n');
    if (nl == std::string::npos && c.buf.size() <= kMaxRequestLine) break;
    if (nl == std::string::npos || nl > kMaxRequestLine) {
      c.out += dump_safe(api_error("request line longer than 1 MiB")) + "\n";
      c.buf.clear();
      c.closing = true;
      break;
    }
    std::string line = c.buf.substr(0, nl);
    c.buf.erase(0, nl + 1);
    try {
      dispatch(i, line, now);
    } catch (const std::exception& e) {
      mb_.on_event(std::string("API: internal error serving uid ") + std::to_string(c.who.uid) + ": " + e.what());
      clients_[i].out += dump_safe(api_error(std::string("internal error in grapped: ") + e.what())) + "\n";
      clients_[i].closing = true;
    }
  }
  // End of the client's input: what it asked is answered, then it is closed (a half line is dropped).
  if (n == 0) clients_[i].closing = true;
  if (n < 0 && err != EAGAIN && err != EINTR) clients_[i].gone = true;
}

// Writes what the socket takes of the client's queue; true while some is left to write.
bool Daemon::write_client(Client& c) {
  if (c.out.empty() || c.gone) return false;
  ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n > 0) c.out.erase(0, static_cast<size_t>(n));
  else if (n < 0 && errno != EAGAIN && errno != EINTR) c.gone = true;
  return !c.out.empty() && !c.gone;
}

void Daemon::serve_api(double now, bool incoming) {
  if (incoming) accept_clients(now);
  for (size_t i = 0; i < clients_.size();) {
    if (!clients_[i].closing && !clients_[i].gone && jobs_.accepts_input(clients_[i].who.client)) read_client(i, now);
    Client& d = clients_[i];
    write_client(d);
    // A request answered or not within 5 s; a stream (a job's output) may stay open.
    const bool late = !d.streaming && now - d.since > 5;
    if (d.gone || late || (d.closing && d.out.empty())) {
      jobs_.detach(d.who.client);
      ::close(d.fd);
      clients_.erase(clients_.begin() + static_cast<long>(i));
    } else {
      ++i;
    }
  }
}

void Daemon::sample_load(double now, bool now_too) {
  if (now < next_sample_ && !now_too) return;
  if (now >= next_sample_) next_sample_ = next_due(next_sample_, now, 0.5);
  last_sample_ = now;
  usage_.clear();
  std::map<std::string, LoadModel::JobSample> samples;
  for (const auto& [id, j] : jobs_.table().all()) {
    if (j.state != JobState::Running || j.remote || j.migrating || j.pid <= 0) continue;
    Sampled& u = usage_[id];
    u.pids = job_processes("/proc", j.pid);
    u.use = job_usage("/proc", u.pids);
    samples[id] = {u.use.runnable, u.use.cpu_s};
    double& peak = cpu_peak_[id];
    peak = std::max(peak, u.use.cpu_s);
  }
  // A sample taken as a job ends may miss its worker (gone, not yet waited for): the history
  // takes the most seen, kept until the job ends or leaves.
  std::erase_if(cpu_peak_, [&](const auto& e) { return !usage_.count(e.first) && !jobs_.table().find(e.first); });
  auto s = read_system();
  load_.sample(now, s.busy_s, samples);
  LoadInfo l;
  l.cpus = s.cpus;
  l.speed = admin_.speed ? admin_.speed : ident_.speed;
  l.load_milli = static_cast<uint32_t>(load_.value() * 1000);
  l.mem_total_mb = s.mem_total_mb;
  l.mem_free_mb = s.mem_free_mb;
  l.jobs = static_cast<uint16_t>(jobs_.running());
  l.flags = published_flags();
  l.daemon_version = 1;
  l.netboot = admin_.netboot;
  l.admission = admin_.admission;
  if (home_) {
    const HomeAdvert h = home_->advert();
    l.home = h.packed(), l.home_peer = h.standby, l.home_mb = h.size_mb;
    l.home_used_mb = h.used_mb, l.home_free_mb = h.free_mb;
  }
  mb_.set_local_load(l, now);
}

// The speed calibrated at start-up is often low: boot keeps the CPU busy, and a virtual CPU
// shares its host. While the node is idle, measure again (every 30 s in its first ten minutes,
// every 5 minutes after) and publish the median of the last idle calibrations (speed.h), so
// identical nodes agree (the admin's `grappe node speed` still overrides it).
void Daemon::recalibrate(double now) {
  if (cfg_.speed || now < next_calibration_) return;
  next_calibration_ = now + (now - info_.started > 600 ? 300 : 30);
  if (jobs_.running() || load_.value() > 0.5) return;
  speed_est_.idle_sample(calibrate_speed());
  const uint32_t s = speed_est_.value();
  if (s == ident_.speed) return;
  if (s > ident_.speed * 1.02 || s < ident_.speed * 0.98)
    mb_.on_event("speed recalibrated while idle: " + std::to_string(ident_.speed) + " -> " + std::to_string(s));
  ident_.speed = s;
}

// A job that ended here without ever moving: its CPU time here is all its work (job_history.h).
// One that was signalled (grappe kill, a crash: status 128+N) was cut short: its time says nothing
// of how long the command runs, and would make the balancer expect its next runs to end sooner.
void Daemon::record_history(const Job& j) {
  auto peak = cpu_peak_.find(j.id);
  const double cpu_s = peak == cpu_peak_.end() ? 0 : peak->second;
  if (peak != cpu_peak_.end()) cpu_peak_.erase(peak);
  if (j.guest || j.migrations != 0 || j.last_signal != 0 || j.exit_code < 0 || j.exit_code >= 128) return;
  if (cpu_s <= 0) return;
  const double speed = admin_.speed ? admin_.speed : ident_.speed;
  history_.record(command_key(j.argv), cpu_s * speed / 1000);
  if (std::string why = history_.save_file(store_, cfg_.state_dir + "/history.json"); !why.empty())
    mb_.on_event("job history: " + why);
}

// Hands the shared /home its view of the cluster once a second (home_share.h does the rest on
// its own thread).
void Daemon::share_home(double now) {
  if (now < next_home_) return;
  next_home_ = next_due(next_home_, now, 1);
  HomeView v = home_view(now);
  serve_boot(now, v);
  if (!home_) return;
  home_->observe(v);
  info_.home = home_->status();
  for (const std::string& e : home_->take_events()) mb_.on_event(e);
  // A degraded /home is said on the console (and in `grappe nodes`), and so is its recovery.
  if (std::string d = home_->degraded(); d != home_degraded_) {
    const std::string line = d.empty() ? "grappe: /home is replicated again" : "grappe: WARNING: " + d;
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    echo_to_other_consoles(line);
    home_degraded_ = d;
  }
}

HomeView Daemon::home_view(double now) {
  const Member& me = mb_.self();
  if (!me.number) number_since_ = -1;
  else if (number_since_ < 0) number_since_ = now;
  HomeView v;
  v.settled = number_since_ >= 0 && now - number_since_ >= 3;
  v.self = {me.number, me.name.str(), 0, "", {}};
  // The members' network keys (overlay.h): derived from the operating key and each node's id
  // (cleared when the key's epoch changes).
  auto keys = [this](const NodeId& id) {
    auto it = overlay_keys_.find(id);
    if (it == overlay_keys_.end()) it = overlay_keys_.emplace(id, overlay_keys(ring_->current().key, id)).first;
    return it->second;
  };
  v.wg_priv = keys(me.id).priv;
  // Suspect members stay peers: a late heartbeat must not cut a mount or an export.
  for (const Member& m : mb_.members())
    if ((m.state == MemberState::Alive || m.state == MemberState::Suspect) && m.number && m.ipv4 && m.id != me.id)
      v.live.push_back({m.number, m.name.str(), m.ipv4, keys(m.id).pub,
                        m.load ? HomeAdvert::unpack(m.load->info.home, m.load->info.home_peer, m.load->info.home_mb,
                                                    m.load->info.home_used_mb, m.load->info.home_free_mb)
                               : HomeAdvert{}});
  if (me.load) v.mem_total_mb = me.load->info.mem_total_mb;
  for (const Member& m : mb_.members())
    if (m.state == MemberState::Left && m.number) v.left.push_back(m.number);
  return v;
}

void Daemon::wake_loop() {
  if (wake_[1] >= 0 && std::this_thread::get_id() != loop_thread_) [[maybe_unused]] auto n = ::write(wake_[1], "w", 1);
}

int Daemon::run() {
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  for (int sig : {SIGTERM, SIGINT}) ::sigaction(sig, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  info_.started = now_s();
  if (cfg_.share_home) {
    home_ = std::make_unique<HomeShare>(runner_, HomePaths{}, cfg_.home_size_mb);
    home_->start();
  }
  if (cfg_.boot_serve) {
    BootEnv be;
    be.run = &runner_;
    be.http_port = cfg_.boot_http_port;
    be.cluster = ident_.cluster;
    be.boot_seed = ident_.creds.boot_seed;
    be.member = [this] { return member_credentials(); };
    be.rekeying = [this] { return ring_->staged(now_s()).has_value(); };
    be.forgotten = [this](const std::string& mac) { return is_forgotten(node_id_for_mac(mac)); };
    be.admit_policy = cfg_.boot_admission;
    be.self_name = ident_.name;
    boot_ = std::make_unique<BootService>(be);
    boot_->start();
  }
  start_dashboard();
  next_calibration_ = info_.started + 30;
  std::fprintf(stderr, "grapped: node %s (%s) on UDP %u, group %s, cluster %s key %s\n", ident_.name.c_str(),
              id_hex(ident_.id).c_str(), cfg_.port, cfg_.group.c_str(), ident_.cluster.c_str(), info_.key_fingerprint.c_str());
  std::fflush(stdout);
  save_state();
  loop_thread_ = std::this_thread::get_id();
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) wake_[0] = wake_[1] = -1;  // then lines wait for the timeout
  Udp out(*this);
  while (!g_stop) {
    std::vector<pollfd> fds = {{udp_, POLLIN, 0}, {api_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    for (auto& c : clients_) fds.push_back({c.fd, static_cast<short>(POLLIN | (c.out.empty() ? 0 : POLLOUT)), 0});
    const size_t mig_at = fds.size();
    fds.push_back({mig_->listen_fd(), POLLIN, 0});
    const double before = now_s();
    jobs_.add_pollfds(fds, before);
    // Until the next point of the grid (loop_timer.h), where the timers (probes every 0.5 s, acks
    // awaited 0.2 s, load samples, the balancer) are checked, or a job's output gap ends sooner.
    // An idle node wakes 4 times a second; under emulation every wake-up also costs the running
    // jobs a flushed TLB.
    const double until = std::min(next_grid_point(before, kLoopGrid), jobs_.quiet_until(before));
    ::poll(fds.data(), fds.size(), static_cast<int>(std::max(0.0, until - before) * 1000) + 1);
    if (fds[2].revents & POLLIN)
      for (char b[64]; ::read(wake_[0], b, sizeof b) > 0;) {
      }
    std::lock_guard<std::mutex> lock(mu_);
    double now = now_s();
    // Sockets are read only when poll() says so: under emulation a syscall is not free.
    if (fds[mig_at].revents) mig_->accept_ready();
    mig_->tick(now);
    if (fds[0].revents) receive_udp(now);
    jobs_.pump(now);
    serve_api(now, fds[1].revents != 0);
    // A job ended or left here: the load is sampled and gossiped at once, so that a CPU it
    // freed draws work from a busier node now rather than a second later.
    const size_t here = jobs_.table().running_here();
    const bool fell = here < running_here_;
    running_here_ = here;
    sample_load(now, fell);
    if (fell) mb_.load_soon();
    recalibrate(now);
    share_home(now);
    balance(now);
    save_jobs();
    mb_.tick(now, out);
    keys_tick(now);
    announce_cluster();
    feed_dashboard(now);
  }
  if (dash_) dash_->stop();  // its actions take mu_: stopped before the lock below
  // (A clean shutdown of the node hands /home over before grapped stops:
  // grappe-home-handover.service, ordered after grapped, runs `grappe home hand-over --shutdown`.)
  std::lock_guard<std::mutex> lock(mu_);
  mb_.leave(now_s(), out);
  save_state();
  save_jobs();
  // What is queued for clients still goes out (a second at most): a stream that a restart of
  // grapped interrupts then loses nothing already read from a job's pipe.
  for (double until = now_s() + 1; now_s() < until; ::usleep(10000)) {
    bool left = false;
    for (auto& c : clients_) left |= write_client(c);
    if (!left) break;
  }
  ::unlink(cfg_.socket.c_str());
  std::fprintf(stderr, "grapped: stopped\n");
  return 0;
}

}  // namespace grappe
