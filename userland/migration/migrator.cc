#include "migration/migrator.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "migration/criu_checkpointer.h"
#include "migration/dirty_probe.h"
#include "migration/dump_priority.h"
#include "jobs/job_inspect.h"
#include "common/text_file.h"

namespace grappe {
namespace fs = std::filesystem;
namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
void nap(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

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

bool safe_id(const std::string& id) {
  return !id.empty() && id.size() < 40 && id.find_first_not_of("0123456789.") == std::string::npos && id[0] != '.';
}

uint64_t mem_available_kb() {
  std::istringstream in(read_text("/proc/meminfo"));
  std::string key;
  uint64_t v = 0;
  while (in >> key >> v) {
    if (key == "MemAvailable:") return v;
    in.ignore(256, '\n');
  }
  return 0;
}

}  // namespace

std::string handoff_summary(const SourceResult& r) {
  char b[200];
  std::snprintf(b, sizeof b, "%.1f MB, frozen %.2f s", static_cast<double>(r.bytes) / 1048576, r.freeze_s);
  std::string s = b;
  if (r.precopy_rounds) {
    std::snprintf(b, sizeof b, ", after %d pre-copy round(s) of %.1f MB", r.precopy_rounds,
                  static_cast<double>(r.precopy_bytes) / 1048576);
    s += b;
  }
  if (!r.precopy_note.empty()) s += "; pre-copy: " + r.precopy_note;
  return s;
}

nlohmann::json handoff_reply(const std::string& id, const std::string& node, bool ok, const SourceResult& r) {
  return {{"v", 1},
          {"ok", ok},
          {"job", id},
          {"node", node},
          {"error", ok ? "" : "migrate: " + r.why},
          {"freeze_s", r.freeze_s},
          {"dump_s", r.dump_s},
          {"bytes", r.bytes},
          {"precopy_rounds", r.precopy_rounds},
          {"precopy_bytes", r.precopy_bytes},
          {"precopy_note", r.precopy_note}};
}

std::vector<std::string> cpu_flags(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream f(line.substr(colon + 1));
    std::vector<std::string> out;
    for (std::string w; f >> w;) out.push_back(w);
    std::sort(out.begin(), out.end());
    return out;
  }
  return {};
}

std::vector<std::string> missing_flags(const std::vector<std::string>& need, const std::vector<std::string>& have) {
  std::set<std::string> h(have.begin(), have.end());
  std::vector<std::string> out;
  for (const auto& n : need)
    if (!h.count(n)) out.push_back(n);
  return out;
}

Migrator::Migrator(MigratorEnv env, CheckpointerFactory make)
    : env_(std::move(env)), criu_why_("grapped is still checking CRIU (it has just started); try again in a few seconds") {
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

void Migrator::spawn(std::function<void()> fn) {
  ++threads_;
  std::thread([this, fn = std::move(fn)] {
    fn();
    --threads_;
  }).detach();
}

void Migrator::accept_ready() {
  for (;;) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    if (threads_ >= 256) {  // a flood of connections does not become a flood of threads
      ::close(fd);
      continue;
    }
    spawn([this, fd] { serve(fd); });
  }
}

void Migrator::serve(int fd) {
  std::string err;
  auto link = TcpPeerLink::accept(fd, env_.key, env_.self, 10, err);
  if (!link) {
    std::lock_guard<std::mutex> l(*env_.mu);
    env_.log("peer connection refused: " + err);
    return;
  }
  auto f = link->recv(30);
  if (!f) return;
  if (f->kind == "offer") incoming(std::move(link), *f);
  else if (f->kind == "relay") home_relay(std::move(link), *f);
  else if (f->kind == "resolve") answer_resolve(*link, *f);
}

std::string Migrator::fits(const nlohmann::json& offer) {
  if (!criu_why_.empty()) return criu_why_;
  const std::string id = offer.value("id", std::string());
  if (!safe_id(id)) return "the offer names no valid job id";
  if (Job* j = env_.jobs->table().find(id); j && j->state == JobState::Running && !j->remote)
    return "job " + id + " already runs here";
  std::vector<std::string> need;
  for (const auto& f : offer.value("cpu_flags", nlohmann::json::array()))
    if (f.is_string()) need.push_back(f.get<std::string>());
  auto lacking = missing_flags(need, cpu_flags(read_text(env_.proc + "/cpuinfo")));
  if (!lacking.empty()) {
    std::string list;
    for (size_t i = 0; i < lacking.size() && i < 8; ++i) list += " " + lacking[i];
    return "this CPU lacks features the job may use:" + list;
  }
  uint64_t need_kb = offer.value("rss_kb", uint64_t{0}) + (64u << 10), avail = mem_available_kb();
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
  auto link = TcpPeerLink::connect(a->ip, a->port, env_.key, env_.self, 10, err);
  if (!link) return stayed("cannot reach " + to + ": " + err);
  const std::string dir = env_.work_dir + "/" + id + "-out";
  ++in_flight_;
  HandoffLimits lim;
  const std::string proc = env_.proc;
  lim.precopy.dirty_share = [proc](pid_t job, double s) { return dirty_share(proc, job, s); };
  // The dump at a raised priority, when the job has the one nice value the offer told the target.
  const nlohmann::json nice = offer.value("nice", nlohmann::json());
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
  record(id, offer.value("epoch", 0), r.outcome != SourceOutcome::Stayed);
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
  Move m{to, client, false, -1, reason, precopy};
  pid_t pid = j->pid;
  spawn([this, id, m, offer, pid] {
    SourceResult r = handoff_out(id, pid, m.to, offer);
    std::lock_guard<std::mutex> l(*env_.mu);
    Job* job = env_.jobs->table().find(id);
    bool moved = r.outcome != SourceOutcome::Stayed;
    if (job) {
      job->migrating = false;
      if (moved) {
        job->remote = true;
        job->node = m.to;
        job->migrations = offer.value("epoch", job->migrations + 1);
        job->moved = "to " + m.to + " (" + m.reason + ")";
        if (job->in >= 0) ::close(job->in), job->in = -1;  // stdin goes through the relay now
        if (env_.moved_out) env_.moved_out(r.freeze_s, r.bytes);
        // The local pipes drain to EOF in the pump; then the relay's output follows.
      }
    }
    env_.log("job " + id + (moved ? " moved to " + m.to : " stays here: " + r.why) + " (" + m.reason + ", " +
             handoff_summary(r) + ")");
    if (m.client >= 0)
      env_.reply(m.client, handoff_reply(id, moved ? m.to : env_.jobs->node_name(), moved, r));
  });
  return "";
}

nlohmann::json Migrator::request(const nlohmann::json& req, const Caller& who) {
  auto fail = [](const std::string& why) { return nlohmann::json{{"v", 1}, {"ok", false}, {"error", "migrate: " + why}}; };
  const std::string id = req.value("job", std::string()), to = req.value("to", std::string());
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
  const nlohmann::json pc = req.value("precopy", nlohmann::json());
  const int precopy = pc.is_boolean() ? pc.get<bool>() : -1;
  if (std::string why = move(id, target, who.client, "grappe migrate, uid " + std::to_string(who.uid), precopy); !why.empty())
    return fail(why);
  return nullptr;  // the answer comes when the handoff ends
}

void Migrator::incoming(std::unique_ptr<TcpPeerLink> link, Frame offer) {
  FirstFrameLink fl(*link, offer);
  const std::string id = offer.meta.value("id", std::string());
  const std::string dir = env_.work_dir + "/" + (safe_id(id) ? id : std::string("bad")) + "-in";
  ++in_flight_;
  HandoffLimits lim;
  const std::string proc = env_.proc;
  lim.restored = [proc](pid_t init, const nlohmann::json& job) {  // CRIU restored the dump's raised nice
    if (auto nice = nice_after_restore(job)) set_job_nice(proc, job_processes(proc, init), *nice);
  };
  TargetResult r = migrate_in(
      fl, *criu_, dir,
      [this](const nlohmann::json& o) {
        std::lock_guard<std::mutex> l(*env_.mu);
        return fits(o);
      },
      lim);
  --in_flight_;
  std::error_code ec;
  if (r.outcome == TargetOutcome::Running || r.outcome == TargetOutcome::Pending) fs::remove_all(dir + ".work", ec);
  if (r.outcome == TargetOutcome::Pending) return resolve_pending(std::move(r));
  if (r.outcome != TargetOutcome::Running) {
    for (int fd : {r.restored.in, r.restored.out, r.restored.err})
      if (fd >= 0) ::close(fd);
    std::lock_guard<std::mutex> l(*env_.mu);
    env_.log("incoming job " + id + " " + target_outcome_name(r.outcome) + ": " + r.why);
    return;
  }
  adopt(r);
}

void Migrator::adopt(const TargetResult& r) {
  const nlohmann::json& o = r.job;
  const std::string id = o.value("id", std::string()), from = o.value("from", std::string("?"));
  const int epoch = o.value("epoch", 1);
  std::lock_guard<std::mutex> l(*env_.mu);
  JobTable& t = env_.jobs->table();
  const bool home = o.value("home_number", 0) == env_.jobs->node_number();
  Job* j = t.find(id);
  if (!j) {
    Job n;
    n.id = id;
    for (const auto& a : o.value("argv", nlohmann::json::array()))
      if (a.is_string()) n.argv.push_back(a.get<std::string>());
    if (n.argv.empty()) n.argv = {"?"};
    n.user = o.value("user", std::string("?"));
    n.uid = o.value("uid", uid_t{65534});
    n.home = o.value("home", std::string("?"));
    n.home_number = o.value("home_number", uint16_t{0});
    n.stay = o.value("stay", false);
    n.tty[1] = o.value("tty_out", false);
    n.tty[2] = o.value("tty_err", false);
    n.started = now_s() - o.value("age_s", 0.0);
    j = &t.add(std::move(n));
  }
  j->state = JobState::Running;
  j->remote = false;
  j->guest = !home;
  j->reaped = false;
  j->pid = r.pid;
  j->in = r.restored.in;
  j->out = r.restored.out;
  j->err = r.restored.err;
  j->migrations = epoch;
  j->local_epoch = epoch;
  j->node = env_.jobs->node_name();
  j->arrived = now_s();
  j->moved = "from " + from;
  env_.log("job " + id + " arrived from " + from + (home ? " (back home)" : ""));
  if (!home) spawn([this, id] { guest(id); });
}

void Migrator::resolve_pending(TargetResult r) {
  const std::string id = r.job.value("id", std::string()), from = r.job.value("from", std::string());
  const int epoch = r.job.value("epoch", 0);
  // Did the source end its copy? Ask it; a source node declared dead cannot be running the job.
  bool go = false;
  for (double until = now_s() + 120; now_s() < until; nap(2000)) {
    std::optional<PeerAddr> a;
    bool alive;
    {
      std::lock_guard<std::mutex> l(*env_.mu);
      a = env_.resolve(from);
      alive = env_.alive(from);
    }
    if (!alive) {
      go = true;
      break;
    }
    if (!a) continue;
    std::string err;
    auto link = TcpPeerLink::connect(a->ip, a->port, env_.key, env_.self, 10, err);
    if (!link || !link->send({"resolve", {{"id", id}, {"epoch", epoch}}, {}})) continue;
    auto f = link->recv(10);
    if (!f || f->kind != "resolved") continue;
    go = f->meta.value("moved", false);  // unknown (the source's grapped restarted): it thawed
    break;
  }
  {
    std::lock_guard<std::mutex> l(*env_.mu);
    env_.log("job " + id + ": handoff from " + from + " was cut at the end; " + (go ? "resuming it here" : "discarding the copy here"));
  }
  if (go && criu_->resume(r.pid)) return adopt(r);
  if (!go) criu_->discard(r.pid);
  for (int fd : {r.restored.in, r.restored.out, r.restored.err})
    if (fd >= 0) ::close(fd);
}

void Migrator::answer_resolve(TcpPeerLink& link, const Frame& f) {
  nlohmann::json moved = nullptr;
  {
    std::lock_guard<std::mutex> l(out_mu_);
    auto it = outcomes_.find(f.meta.value("id", std::string()) + "@" + std::to_string(f.meta.value("epoch", 0)));
    if (it != outcomes_.end()) moved = it->second;
  }
  link.send({"resolved", {{"moved", moved}}, {}});
}

void Migrator::tick(double now) {
  for (auto& [id, j] : env_.jobs->table().all()) {
    if (j.state != JobState::Running || !j.remote || j.migrating) continue;
    if (!lost_.check(id, env_.alive(j.node), now)) continue;
    env_.jobs->deliver(j, 2, "grappe: job " + id + " was lost: node " + j.node + " died while running it\n");
    env_.log("job " + id + " lost with node " + j.node + " (dead for " + std::to_string(static_cast<int>(lost_.grace())) +
             " s)");
    env_.jobs->end(j, 255, now);
  }
  lost_.sweep();
}

}  // namespace grappe
