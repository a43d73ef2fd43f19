#include "migration/migrator.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/mono_clock.h"
#include "common/json_fields.h"
#include "common/text_file.h"
#include "jobs/job_inspect.h"
#include "jobs/job_pid.h"
#include "migration/admission.h"
#include "migration/criu_checkpointer.h"
#include "migration/dirty_probe.h"
#include "migration/image_creds.h"
#include "migration/dump_priority.h"
#include "migration/image_dir.h"

namespace grappe {
namespace fs = std::filesystem;
namespace {


// The epoch an offer built here (offer_for) gives the job on the target.
int offer_epoch(const nlohmann::json& offer, int def) {
  Fields f(offer, "offer");
  const int e = static_cast<int>(f.integer("epoch", def, 0, INT_MAX));
  return f.ok() ? e : def;
}

void close_fds(const RestoreResult& r) {
  for (int fd : {r.in, r.out, r.err})
    if (fd >= 0) ::close(fd);
}

// The offer was read to learn what the connection is for; migrate_in reads it again from here.
class FirstFrameLink final : public PeerLink {
 public:
  FirstFrameLink(PeerLink& l, Frame first) : l_(l), first_(std::move(first)) {}
  bool send(const Frame& f) override { return l_.send(f); }
  std::optional<Frame> recv(double t) override {
    if (first_) return std::exchange(first_, std::nullopt);
    return l_.recv(t);
  }
  bool recv_into(Frame& f, double t) override {
    if (first_) {
      f = std::move(*std::exchange(first_, std::nullopt));
      return true;
    }
    return l_.recv_into(f, t);
  }

 private:
  PeerLink& l_;
  std::optional<Frame> first_;
};

}  // namespace

Migrator::Migrator(MigratorEnv env, CheckpointerFactory make)
    : env_(std::move(env)),
      criu_why_("grapped is still checking CRIU (it has just started); try again in a few seconds"),
      relay_(relay_env()) {
  // Images of handoffs cut by a crash or a restart: nothing can use them now.
  std::error_code ec;
  const int swept = env_.work_dir.empty() ? 0 : sweep_image_dirs(env_.work_dir, ec);
  if (swept > 0 || ec) {
    std::lock_guard<std::mutex> l(*env_.mu);
    if (swept > 0) env_.log("migration: removed " + std::to_string(swept) + " leftover image director(ies) in " + env_.work_dir);
    if (ec) env_.log("migration: cannot clean " + env_.work_dir + ": " + ec.message() + " (check its owner and mode)");
  }
  spawn([this, make] {
    std::string why;
    auto c = make(why);
    std::lock_guard<std::mutex> l(*env_.mu);
    criu_ = std::move(c);
    criu_why_ = why;
    env_.log(why.empty() ? "migration: CRIU ready" : "migration unavailable: " + why);
  });
}

Migrator::~Migrator() {
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

RelayEnv Migrator::relay_env() {
  RelayEnv r;
  r.mu = env_.mu;
  r.jobs = env_.jobs;
  r.connect_home = [this](uint16_t home_number, std::string& err) -> std::unique_ptr<PollLink> {
    std::optional<PeerAddr> a;
    {
      std::lock_guard<std::mutex> l(*env_.mu);
      a = env_.resolve(std::to_string(home_number));
    }
    if (!a) return nullptr;
    return TcpPeerLink::connect(a->ip, a->port, env_.keys->current().key, env_.self, 10, err);
  };
  r.move = [this](const std::string& id, pid_t pid, const MoveOrder& m) { return move_guest(id, pid, m); };
  r.reply = env_.reply;
  r.log = env_.log;
  return r;
}

void Migrator::listen(uint16_t port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 16) != 0)
    throw std::runtime_error("cannot listen on TCP port " + std::to_string(port) + " for migrations: " + std::strerror(errno) +
                             " (another grapped running? set [discovery] port)");
}

// Every thread's top: what a peer sent, or a bug, must end this thread's work, not the daemon.
void Migrator::spawn(std::function<void()> fn) {
  ++threads_;
  std::thread([this, fn = std::move(fn)] {
    try {
      fn();
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> l(*env_.mu);
      env_.log(std::string("migration thread stopped: ") + e.what() + " (please report this)");
    } catch (...) {
      std::lock_guard<std::mutex> l(*env_.mu);
      env_.log("migration thread stopped by an unknown exception (please report this)");
    }
    --threads_;
  }).detach();
}

void Migrator::accept_ready() {
  for (;;) {
    sockaddr_storage from{};
    socklen_t len = sizeof from;
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&from), &len, SOCK_CLOEXEC);
    if (fd < 0) return;
    char host[INET6_ADDRSTRLEN] = "?";
    if (from.ss_family == AF_INET)
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&from)->sin_addr, host, sizeof host);
    else if (from.ss_family == AF_INET6)
      ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&from)->sin6_addr, host, sizeof host);
    // A flood of connections becomes neither a flood of threads nor a wall in front of real peers.
    if (threads_ >= 256 || !gate_.enter(host)) {
      ::close(fd);
      continue;
    }
    spawn([this, fd, source = std::string(host)] { serve(fd, source); });
  }
}

void Migrator::serve(int fd, const std::string& source) {
  std::string err;
  std::vector<ClusterKey> keys;
  for (const auto& k : env_.keys->accepted(now_s())) keys.push_back(k.key);
  auto link = TcpPeerLink::accept(fd, keys, env_.self, 10, err);
  if (link && env_.forgotten && env_.forgotten(link->peer())) {
    err = "node " + id_hex(link->peer()) + " from " + source + " was forgotten (grappe node forget)";
    link.reset();
  }
  gate_.leave(source, link != nullptr);
  if (!link) {
    std::lock_guard<std::mutex> l(*env_.mu);
    env_.log("peer connection refused: " + err);
    return;
  }
  auto f = link->recv(30);
  if (!f) return;
  if (f->kind == "offer") incoming(std::move(link), *f);
  else if (f->kind == "relay") relay_.home(std::move(link), *f);
  else if (f->kind == "resolve") answer_resolve(*link, *f);
  else if (f->kind == "admit") answer_admission(*link, *f);
  else if (f->kind == "rekey") answer_rekey(*link, *f);
  else if (f->kind == "forgotten") answer_forgotten(*f);
  else if (f->kind == "abandon") answer_abandoned(*f);
}

std::string Migrator::fits(const Offer& o, const nlohmann::json& offer) {
  if (!criu_why_.empty()) return criu_why_;
  if (Job* j = env_.jobs->table().find(o.id); j && j->state == JobState::Running && !j->remote)
    return "job " + o.id + " already runs here";
  auto lacking = missing_flags(o.cpu_flags, cpu_flags(read_text(env_.proc + "/cpuinfo")));
  if (!lacking.empty()) {
    std::string list;
    for (size_t i = 0; i < lacking.size() && i < 8; ++i) list += " " + lacking[i];
    return "this CPU lacks features the job may use:" + list;
  }
  uint64_t need_kb = o.rss_kb + (64u << 10), avail = mem_available_kb(read_text("/proc/meminfo"));
  if (avail && need_kb > avail)
    return "not enough memory: the job needs about " + std::to_string(need_kb >> 10) + " MB, " +
           std::to_string(avail >> 10) + " MB are available";
  if (env_.admit)
    if (std::string why = env_.admit(offer); !why.empty()) return why;
  return "";
}

nlohmann::json Migrator::offer_for(Job& j, std::string& why, int precopy) {
  if (!criu_why_.empty()) why = criu_why_;
  else if (j.migrating) why = "job " + j.id + " is already moving";
  else if (j.stay && !j.place) why = "job " + j.id + " was started with --stay";
  if (!why.empty()) return {};
  auto pids = job_processes(env_.proc, j.pid);
  why = why_not_movable(env_.proc, pids);
  if (!why.empty()) return {};
  auto use = job_usage(env_.proc, pids);
  const std::optional<int> nice = common_nice(env_.proc, pids);
  return {{"id", j.id},
          {"argv", j.argv},
          {"user", j.user},
          {"uid", j.uid},
          {"home", j.home},
          {"home_number", j.home_number ? j.home_number : env_.jobs->node_number()},
          {"epoch", j.migrations + 1},
          {"stdio", stdio_pipe_keys(env_.proc, j.pid)},
          {"rss_kb", use.rss_kb},
          {"cpu_flags", cpu_flags(read_text(env_.proc + "/cpuinfo"))},
          {"age_s", now_s() - j.started},
          {"work_s", j.work_before + use.cpu_s * (env_.speed ? env_.speed() : 1000) / 1000},
          {"stay", j.stay},
          {"tty_out", j.tty[1]},
          {"tty_err", j.tty[2]},
          {"precopy", precopy < 0 ? env_.precopy_min_kb && use.rss_kb >= env_.precopy_min_kb : precopy > 0},
          {"nice", nice ? nlohmann::json(*nice) : nlohmann::json()},
          {"from", env_.jobs->node_name()}};
}

void Migrator::record(const std::string& id, int epoch, bool moved) {
  std::lock_guard<std::mutex> l(out_mu_);
  if (outcomes_.size() > 10000) outcomes_.clear();
  outcomes_[id + "@" + std::to_string(epoch)] = moved;
}

SourceResult Migrator::handoff_out(const std::string& id, pid_t pid, const std::string& to, const nlohmann::json& offer) {
  std::optional<PeerAddr> a;
  {
    std::lock_guard<std::mutex> l(*env_.mu);
    a = env_.resolve(to);
  }
  if (!a) return stayed("node " + to + " is not a live member");
  std::string err;
  auto link = TcpPeerLink::connect(a->ip, a->port, env_.keys->current().key, env_.self, 10, err);
  if (!link) return stayed("cannot reach " + to + ": " + err);
  const std::string dir = env_.work_dir + "/" + id + "-out";
  ++in_flight_;
  HandoffLimits lim;
  const std::string proc = env_.proc;
  lim.precopy.dirty_share = [proc](pid_t job, double s) { return dirty_share(proc, job, s); };
  // The dump at a raised priority, when the job has the one nice value the offer told the target.
  const auto it = offer.find("nice");
  const nlohmann::json nice = it != offer.end() ? *it : nlohmann::json();
  lim.before_dump = [proc, nice](pid_t job) -> std::function<void()> {
    const auto pids = job_processes(proc, job);
    const auto now = common_nice(proc, pids);
    if (!nice.is_number_integer() || !now || *now != nice.get<int>() || *now <= kDumpNice) return nullptr;
    set_job_nice(proc, pids, kDumpNice);
    return [proc, job, was = *now] { set_job_nice(proc, job_processes(proc, job), was); };
  };
  SourceResult r = migrate_out(offer, pid, dir, *link, *criu_, lim);
  --in_flight_;
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (r.outcome != SourceOutcome::Stayed) fs::remove_all(dir + ".work", ec);  // else keep CRIU's log
  record(id, offer_epoch(offer, 0), r.outcome != SourceOutcome::Stayed);
  return r;
}

std::string Migrator::move(const std::string& id, const std::string& to, int client, const std::string& reason,
                           int precopy) {
  Job* j = env_.jobs->table().find(id);
  if (!j || j->state != JobState::Running) return "job " + id + " is not running";
  if (j->remote || j->guest) {  // the node running it does the move
    j->ctl_q.push_back({{"to", to}, {"client", client}, {"reason", reason}, {"precopy", precopy}});
    wake_relay(*j);
    return "";
  }
  std::string why;
  nlohmann::json offer = offer_for(*j, why, precopy);
  if (!why.empty()) return why;
  j->migrating = true;
  const MoveOrder m{to, client, reason, precopy};
  const pid_t pid = j->pid;
  spawn([this, id, m, offer, pid] {
    SourceResult r = handoff_out(id, pid, m.to, offer);
    std::lock_guard<std::mutex> l(*env_.mu);
    finish_local_move(id, m, offer_epoch(offer, -1), r);
  });
  return "";
}

// A job whose pipes the daemon's pump reads (it started here, or came back home) left or stayed.
void Migrator::finish_local_move(const std::string& id, const MoveOrder& m, int epoch, const SourceResult& r) {
  Job* job = env_.jobs->table().find(id);
  const bool moved = r.outcome != SourceOutcome::Stayed;
  if (job) {
    job->migrating = false;
    if (moved) {
      job->remote = true;
      job->node = m.to;
      job->migrations = epoch >= 0 ? epoch : job->migrations + 1;
      job->moved = "to " + m.to + " (" + m.reason + ")";
      if (job->in >= 0) ::close(job->in), job->in = -1;  // stdin goes through the relay now
      if (env_.moved_out) env_.moved_out(r.freeze_s, r.bytes);
      // The local pipes drain to EOF in the pump; then the relay's output follows.
    }
  }
  env_.log("job " + id + (moved ? " moved to " + m.to : " stays here: " + r.why) + " (" + m.reason + ", " +
           handoff_summary(r) + ")");
  if (env_.migrated)
    env_.migrated({{"job", id}, {"from", env_.jobs->node_name()}, {"to", m.to}, {"moved", moved}, {"freeze_s", r.freeze_s},
                   {"why", moved ? m.reason : r.why}});
  if (m.client >= 0) env_.reply(m.client, handoff_reply(id, moved ? m.to : env_.jobs->node_name(), moved, r));
}

// A guest moves on (its relay thread asks): the offer under the lock, the handoff without it.
GuestMove Migrator::move_guest(const std::string& id, pid_t pid, const MoveOrder& m) {
  GuestMove g;
  nlohmann::json offer;
  {
    std::lock_guard<std::mutex> l(*env_.mu);
    Job* j = env_.jobs->table().find(id);
    if (j) offer = offer_for(*j, g.r.why, m.precopy);
    if (j && g.r.why.empty()) j->migrating = true;
    if (!j) g.r.why = "job " + id + " is gone";
  }
  if (!g.r.why.empty()) return g;
  g.started = true;
  g.r = handoff_out(id, pid, m.to, offer);
  g.epoch = offer_epoch(offer, 1);
  std::lock_guard<std::mutex> l(*env_.mu);
  if (Job* j = env_.jobs->table().find(id)) j->migrating = false;
  return g;
}

nlohmann::json Migrator::request(const nlohmann::json& req, const Caller& who) {
  auto refused = [](const std::string& error) { return nlohmann::json{{"v", 1}, {"ok", false}, {"error", error}}; };
  auto fail = [&](const std::string& why) { return refused("migrate: " + why); };
  Fields f(req, "migrate");
  const std::string id = f.str("job", "", Need::Required, 64), to = f.str("to", "", Need::Required, 256);
  const int precopy = f.has("precopy") ? f.boolean("precopy", false) : -1;
  if (!f.ok()) return refused(f.error());  // "migrate: \"to\" is missing"
  Job* j = env_.jobs->table().find(id);
  if (!j) return fail("no job " + id + " here; ask its home node or the node running it (grappe ps --all)");
  if (!JobTable::may_act(*j, who.uid)) return fail("job " + id + " belongs to " + j->user);
  if (j->state != JobState::Running) return fail("job " + id + " has ended");
  std::string target;
  if (to == "home") {
    target = j->home;
  } else {
    auto a = env_.resolve(to);
    if (!a) return fail("no live node '" + to + "' (grappe nodes lists them by number and name)");
    target = a->name;
  }
  if (target == j->node) return fail("job " + id + " already runs on " + target);
  if (std::string why = move(id, target, who.client, "grappe migrate, uid " + std::to_string(who.uid), precopy); !why.empty())
    return fail(why);
  return nullptr;  // the answer comes when the handoff ends
}

void Migrator::incoming(std::unique_ptr<TcpPeerLink> link, Frame offer) {
  Offer o;
  std::string bad;
  const bool valid = parse_offer(offer.meta, o, bad);
  const std::string dir = env_.work_dir + "/" + (valid ? o.id : std::string("bad")) + "-in";
  FirstFrameLink fl(*link, std::move(offer));
  ++in_flight_;
  TargetResult r = receive(fl, dir);
  --in_flight_;
  std::error_code ec;
  if (r.outcome == TargetOutcome::Running || r.outcome == TargetOutcome::Pending) fs::remove_all(dir + ".work", ec);
  if (r.outcome == TargetOutcome::Pending) return resolve_pending(std::move(r), o);
  if (r.outcome == TargetOutcome::Running) return adopt(r, o);
  close_fds(r.restored);
  std::lock_guard<std::mutex> l(*env_.mu);
  env_.log("incoming job " + (valid ? o.id : std::string("(malformed offer)")) + " " + target_outcome_name(r.outcome) +
           ": " + r.why);
}

// The target's side of the handoff, the offer judged by fits() (a malformed one is refused).
TargetResult Migrator::receive(PeerLink& link, const std::string& dir) {
  HandoffLimits lim;
  const std::string proc = env_.proc;
  lim.restored = [this, proc](pid_t init, const nlohmann::json& job) {
    const auto pids = job_processes(proc, init);
    if (auto nice = nice_after_restore(job)) set_job_nice(proc, pids, *nice);  // CRIU restored the dump's raised nice
    // Out of grapped's cgroup, in a scope of its own (one per residence: the last may not be gone
    // yet), so that stopping grapped stops no job; the next grapped adopts it (job_record.h).
    Fields f(job, "offer");
    const std::string scope = f.str("id", "job", Need::Optional, 64) + "-" + std::to_string(f.integer("epoch", 0, 0, INT_MAX));
    if (std::string why = env_.place ? env_.place(scope, pids) : ""; !why.empty()) {
      std::lock_guard<std::mutex> l(*env_.mu);
      env_.log("restored job " + scope + " runs in grapped's cgroup: " + why);
    }
  };
  // CRIU restores what the images hold, as root: only what the offer claims may run.
  lim.vet_images = [](const std::string& image_dir, const nlohmann::json& job) {
    Offer o;
    std::string why;
    if (!parse_offer(job, o, why)) return "malformed offer: " + why;
    return vet_image_creds(image_dir, o.uid, groups_of(o.uid));
  };
  auto judge = [this](const nlohmann::json& offer) {
    Offer o;
    std::string why;
    if (!parse_offer(offer, o, why)) return "malformed offer: " + why;
    std::lock_guard<std::mutex> l(*env_.mu);
    return fits(o, offer);
  };
  Checkpointer* criu;  // set once by the CRIU check's thread, under the lock
  std::string why;
  {
    std::lock_guard<std::mutex> l(*env_.mu);
    criu = criu_.get();
    why = criu_why_;
  }
  if (criu) return migrate_in(link, *criu, dir, judge, lim);
  NoCheckpointer none(why.empty() ? "no checkpointer" : why);  // the judge refuses before any use
  return migrate_in(link, none, dir, judge, lim);
}

void Migrator::adopt(const TargetResult& r, const Offer& o) {
  std::lock_guard<std::mutex> l(*env_.mu);
  JobTable& t = env_.jobs->table();
  const bool home = o.home_number == env_.jobs->node_number();
  Job* j = t.find(o.id);
  if (!j) {
    Job n;
    n.id = o.id;
    n.argv = o.argv.empty() ? std::vector<std::string>{"?"} : o.argv;
    n.user = o.user;
    n.uid = o.uid;
    n.home = o.home;
    n.home_number = o.home_number;
    n.stay = o.stay;
    n.tty[1] = o.tty_out;
    n.tty[2] = o.tty_err;
    n.started = now_s() - o.age_s;
    j = &t.add(std::move(n));
  }
  j->work_before = o.work_s;
  j->state = JobState::Running;
  j->remote = false;
  j->guest = !home;
  j->reaped = false;
  if (j->pidfd >= 0) ::close(j->pidfd);
  j->pid = r.pid;
  j->pidfd = home ? pidfd_of(r.pid) : -1;  // a guest is signalled by its relay thread
  j->start_ticks = process_start_ticks(env_.proc, r.pid);
  j->adopted = false;  // CRIU restored it as our child
  j->in = r.restored.in;
  j->out = r.restored.out;
  j->err = r.restored.err;
  env_.jobs->keep_restored(*j);  // its new pipes and its exit status outlive grapped too (job_restart.cc)
  j->migrations = o.epoch;
  j->local_epoch = o.epoch;
  j->node = env_.jobs->node_name();
  j->arrived = now_s();
  j->moved = "from " + o.from;
  env_.log("job " + o.id + " arrived from " + o.from + (home ? " (back home)" : ""));
  if (!home) spawn([this, id = o.id] { relay_.guest(id); });
}

void Migrator::resume_guests() {
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> l(*env_.mu);
    for (const auto& [id, j] : env_.jobs->table().all())
      if (j.guest && j.state == JobState::Running) ids.push_back(id);
  }
  for (auto& id : ids) spawn([this, id] { relay_.guest(id); });
}

// Did the source end its copy? Asks it for up to 120 s; a source node declared dead cannot be
// running the job (true); nullopt when its answer never came.
std::optional<bool> Migrator::ask_source(const Offer& o) {
  for (double until = now_s() + 120; now_s() < until; nap(2000)) {
    std::optional<PeerAddr> a;
    bool alive;
    {
      std::lock_guard<std::mutex> l(*env_.mu);
      a = env_.resolve(o.from);
      alive = env_.alive(o.from);
    }
    if (!alive) return true;
    if (!a) continue;
    std::string err, why;
    auto link = TcpPeerLink::connect(a->ip, a->port, env_.keys->current().key, env_.self, 10, err);
    if (!link || !link->send({"resolve", {{"id", o.id}, {"epoch", o.epoch}}, {}})) continue;
    auto f = link->recv(10);
    if (!f || f->kind != "resolved") continue;
    std::optional<bool> moved;
    if (parse_resolved(f->meta, moved, why)) return moved.value_or(false);  // unknown (its grapped restarted): it thawed
    std::lock_guard<std::mutex> l(*env_.mu);
    env_.log("job " + o.id + ": malformed answer from " + o.from + " (" + why + "); asking again");
  }
  return std::nullopt;
}

void Migrator::resolve_pending(TargetResult r, const Offer& o) {
  const bool go = ask_source(o).value_or(false);
  {
    std::lock_guard<std::mutex> l(*env_.mu);
    env_.log("job " + o.id + ": handoff from " + o.from + " was cut at the end; " +
             (go ? "resuming it here" : "discarding the copy here"));
  }
  if (go && criu_->resume(r.pid)) return adopt(r, o);
  if (!go) criu_->discard(r.pid);
  close_fds(r.restored);
}

void Migrator::answer_resolve(TcpPeerLink& link, const Frame& f) {
  ResolveAsk ask;
  std::string why;
  if (!parse_resolve(f.meta, ask, why)) {
    std::lock_guard<std::mutex> l(*env_.mu);
    env_.log("resolve request refused: " + why);
    return;
  }
  nlohmann::json moved = nullptr;
  {
    std::lock_guard<std::mutex> l(out_mu_);
    auto it = outcomes_.find(ask.id + "@" + std::to_string(ask.epoch));
    if (it != outcomes_.end()) moved = it->second;
  }
  link.send({"resolved", {{"moved", moved}}, {}});
}

void Migrator::tick(double now) {
  for (auto& [id, j] : env_.jobs->table().all()) {
    if (j.state != JobState::Running || !j.remote || j.migrating) continue;
    if (j.adopted && now - started_ < kRediscover) continue;  // its node may not be known again yet
    if (!lost_.check(id, env_.alive(j.node), now)) continue;
    env_.jobs->deliver(j, 2, "grappe: job " + id + " was lost: node " + j.node + " died while running it\n");
    env_.log("job " + id + " lost with node " + j.node + " (dead for " + std::to_string(static_cast<int>(lost_.grace())) +
             " s)");
    env_.jobs->end(j, 255, now);
  }
  lost_.sweep();
}

}  // namespace grappe
