#include "home/home_share.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <sstream>
#include <thread>

#include "common/text_file.h"
#include "common/text_store.h"

namespace grappe {

std::optional<HomePeer> choose_founder(const HomeView& v) {
  if (!v.settled || !v.self.number) return std::nullopt;
  const HomePeer* best = &v.self;
  for (const HomePeer& p : v.live)
    if (p.number && p.number < best->number) best = &p;
  return *best;
}

std::vector<int> holders_of(const std::string& proc, const std::string& dir) {
  std::vector<int> out;
  DIR* d = ::opendir(proc.c_str());
  if (!d) return out;
  auto under = [&](const std::string& link) {
    char buf[4096];
    const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
    if (n <= 0) return false;
    const std::string t(buf, static_cast<size_t>(n));
    return t == dir || t.rfind(dir + "/", 0) == 0;
  };
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end || pid == ::getpid()) continue;
    const std::string base = proc + "/" + e->d_name;
    bool held = under(base + "/cwd") || under(base + "/root");
    if (DIR* fds = held ? nullptr : ::opendir((base + "/fd").c_str())) {
      while (dirent* f = ::readdir(fds))
        if (f->d_name[0] != '.' && under(base + "/fd/" + f->d_name)) {
          held = true;
          break;
        }
      ::closedir(fds);
    }
    if (held) out.push_back(static_cast<int>(pid));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string home_server(const std::string& mounts, const std::string& dir) {
  std::istringstream in(mounts);
  std::string server;
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string what, where, type;
    f >> what >> where >> type;
    if (where != dir) continue;
    // The last mount on the path is the one seen.
    server = type.rfind("nfs", 0) == 0 && what.find(':') != std::string::npos ? what.substr(0, what.find(':')) : "";
  }
  return server;
}

std::string mount_source(const std::string& mounts, const std::string& dir) {
  std::istringstream in(mounts);
  std::string source;
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string what, where;
    f >> what >> where;
    if (where == dir) source = what;  // the last mount on the path is the one seen
  }
  return source;
}

HomeShare::HomeShare(CommandRunner& run, HomePaths paths, uint32_t size_mb)
    : run_(run), paths_(std::move(paths)), size_mb_(size_mb), net_(run, paths_.net), drbd_(run, paths_.drbd, paths_.drbd_helper),
      ram_(run, paths_.ram) {
  recover();
}

HomeShare::~HomeShare() { worker_.stop(); }

void HomeShare::observe(const HomeView& v) {
  std::lock_guard<std::mutex> l(mu_);
  view_ = v;
}

bool HomeShare::ok(const std::vector<std::string>& argv, double timeout_s) {
  return ok_why(run_checked(run_, argv, timeout_s));
}

bool HomeShare::ok_why(const std::string& why) {
  if (why.empty()) return true;
  std::lock_guard<std::mutex> l(mu_);
  error_ = why;
  return false;
}

void HomeShare::event(const std::string& what) {
  std::lock_guard<std::mutex> l(mu_);
  events_.push_back("home: " + what);
}

std::vector<std::string> HomeShare::take_events() {
  std::lock_guard<std::mutex> l(mu_);
  return std::exchange(events_, {});
}

HomeAdvert HomeShare::advert() const {
  std::lock_guard<std::mutex> l(mu_);
  HomeAdvert a;
  if (local_ == Local::None) {
    if (!disk_.empty()) a.flags = kHomeDisk | (disk_term_ ? uint32_t{kHomeDiskData} : 0u), a.size_mb = disk_mb_, a.term = disk_term_;
    return a;
  }
  if (on_disk_) a.flags |= kHomeDisk;
  a.term = term_;
  a.flags |= local_ == Local::Server ? kHomeServer : kHomeStandby;
  if (local_ == Local::Standby && in_sync_) a.flags |= kHomeInSync;
  a.standby = local_ == Local::Server ? standby_ : 0;
  a.size_mb = ram_.size_mb();
  if (local_ == Local::Server) a.used_mb = static_cast<uint32_t>(used_mb_), a.free_mb = static_cast<uint32_t>(free_mb_);
  return a;
}

// The role of a grapped that ran before this one, when its DRBD device is still up.
void HomeShare::recover() {
  FileStore fs;
  auto text = fs.read(paths_.state);
  if (!text) return;
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object()) return;
  // A damaged file (a field of the wrong type) is ignored, never thrown on.
  auto num = [&](const char* k) -> uint32_t {
    auto it = j.find(k);
    return it != j.end() && it->is_number_unsigned() ? it->get<uint32_t>() : 0;
  };
  auto text_of = [&](const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const DrbdState d = parse_proc_drbd(read_text(paths_.proc_drbd));
  const std::string role = text_of("role");
  if (!d.configured || (role != "server" && role != "standby")) return;
  local_ = role == "server" ? Local::Server : Local::Standby;
  term_ = num("term"), server_ = static_cast<uint16_t>(num("server")), standby_ = static_cast<uint16_t>(num("standby"));
  nfs_started_ = local_ == Local::Server;
  DrbdSpec s{text_of("disk"), num("self_ip"), num("peer_ip"), text_of("meta"), num("size_mb")};
  drbd_.write(s);
  on_disk_ = !s.meta.empty();
  if (on_disk_) disk_ = s.disk, disk_mb_ = num("disk_mb");
  ram_.adopt(on_disk_ ? "" : s.disk, s.meta, s.size_mb);
  events_.push_back("home: taken up again after a restart of grapped: " + role + " at term " + std::to_string(term_));
}

void HomeShare::save() {
  nlohmann::json j = {{"role", local_ == Local::Server ? "server" : local_ == Local::Standby ? "standby" : "none"},
                      {"term", term_},
                      {"server", server_},
                      {"standby", standby_},
                      {"disk", drbd_.spec().disk},
                      {"self_ip", drbd_.spec().self_ip},
                      {"peer_ip", drbd_.spec().peer_ip},
                      {"meta", drbd_.spec().meta},
                      {"size_mb", drbd_.spec().size_mb},
                      {"disk_mb", disk_mb_}};
  FileStore fs;
  ok_why(fs.write(paths_.state, j.dump() + "\n"));
}

void HomeShare::unexport_all() {
  for (auto it = exported_.begin(); it != exported_.end();)
    it = ok({"exportfs", "-u", ip4_text(*it) + ":" + paths_.store + "/home"}, 60) ? exported_.erase(it) : std::next(it);
}

// Drops whatever role this node had: exports, mounts, the DRBD resource and its backing.
void HomeShare::teardown() {
  if (local_ == Local::Server) {
    unexport_all();
    ok({"umount", "-l", paths_.dir}, 60);  // the bind of the store
    ok({"umount", "-l", paths_.store}, 60);
    ok({"systemctl", "stop", "nfs-server"}, 120);
    nfs_started_ = false;
  }
  if (drbd_state_.configured || local_ != Local::None) ok_why(drbd_.down());
  ok_why(ram_.destroy());
  {
    std::lock_guard<std::mutex> l(mu_);
    local_ = Local::None, term_ = 0, server_ = 0, standby_ = 0, in_sync_ = false, fenced_ = false, on_disk_ = false;
  }
  save();
}

bool HomeShare::bind_home() {
  // This node's own processes use the store directly; a mount of the previous server goes first.
  // -c: umount(8) would resolve the path first, a stat that waits out the NFS timeouts (a minute)
  // when that server is dead; -i: nor does it call umount.nfs4, which was seen waiting as long.
  // Never bound over a mount that stayed: a hand-over's unmount would uncover it later, a mount
  // of a dead server that a client would take for its current one.
  for (int i = 0; i < 3 && !home_server(read_text(paths_.mounts), paths_.dir).empty(); ++i)
    ok({"umount", "-i", "-l", "-c", paths_.dir}, 60);
  if (const std::string left = home_server(read_text(paths_.mounts), paths_.dir); !left.empty())
    return ok_why("cannot unmount the NFS mount of " + left + " from " + paths_.dir + ": " + error_);
  return ok({"mount", "--bind", paths_.store + "/home", paths_.dir}, 60);
}

void HomeShare::found(const HomeView& v, const HomePlan& p, double now) {
  if (now < next_try_) return;
  next_try_ = now + 10;
  teardown();
  // A GRAPPE-HOME disk: its filesystem is /home (DRBD's metadata beside it, in RAM). Else a new,
  // empty filesystem in RAM, labelled GRAPPE-HOME too: a disk that stands by for it gets a copy
  // that is itself a GRAPPE-HOME disk.
  const bool disk = !disk_.empty();
  const uint32_t size = disk ? disk_mb_ : size_mb_ ? size_mb_ : ram_home_mb(v.mem_total_mb);
  if (!ok_why(disk ? ram_.create_meta(size) : ram_.create(size)) ||
      !ok_why(drbd_.write({disk ? disk_ : ram_.device(), overlay_ip(v.self.number), 0, ram_.meta_device(), size})) ||
      !ok_why(drbd_.create(true)) || !ok_why(drbd_.primary(true)))
    return;
  drbd_.disconnect();
  if ((!disk && !ok({"mkfs.ext4", "-q", "-F", "-m", "0", "-L", "GRAPPE-HOME", "-E",
                     "lazy_itable_init=1,lazy_journal_init=1", "/dev/drbd0"}, 600)) ||
      !ok({"mkdir", "-p", paths_.store}, 30) || !ok({"mount", "-o", "noatime", "/dev/drbd0", paths_.store}, 120) ||
      !ok({"mkdir", "-p", "-m", "0755", paths_.store + "/home"}, 30))
    return;
  // What /home held before (the image's files, or what was written while no node served it).
  if (!home_server(read_text(paths_.mounts), paths_.dir).empty()) ok({"umount", "-i", "-l", "-c", paths_.dir}, 60);
  if (!disk) ok({"cp", "-a", paths_.dir + "/.", paths_.store + "/home/"}, 600);
  if (!bind_home()) return;
  mark(p.term);
  {
    std::lock_guard<std::mutex> l(mu_);
    local_ = Local::Server, term_ = p.term, server_ = v.self.number, standby_ = 0, fenced_ = false, on_disk_ = disk;
    error_.clear();
  }
  save();
  event(p.why + (disk ? " (from the GRAPPE-HOME disk " + disk_ + ", " : " (RAM-backed, ") + std::to_string(size) + " MB)");
}

void HomeShare::promote(const HomeView& v, const HomePlan& p, const std::vector<OverlayPeer>& peers, double now) {
  if (now < next_try_) return;
  next_try_ = now + 5;
  // Membership has declared the server dead (and this side holds the majority): DRBD need not
  // wait for its own timeouts, which run long while writes were in flight.
  const auto t0 = std::chrono::steady_clock::now();
  // (A copy handed over stays connected: the old server is its standby at once, with no resync.)
  if (!(released_ && in_sync_)) drbd_.disconnect(true);
  const bool stored = mount_source(read_text(paths_.mounts), paths_.store) == "/dev/drbd0";  // an earlier try
  if (!ok_why(drbd_.primary(false)) || !ok({"mkdir", "-p", paths_.store}, 30) ||
      (!stored && !ok({"mount", "-o", "noatime", "/dev/drbd0", paths_.store}, 120))) {
    std::lock_guard<std::mutex> l(mu_);
    events_.push_back("home: could not take /home over yet (again in 5 s): " + error_);
    return;
  }
  mark(p.term);
  // Serving before saying so: NFS listening, /home exported, the address here. The members route
  // /home's address to this node once its advert says it serves; a client connecting before NFS
  // listens would be refused and back off for tens of seconds.
  // (Its standby is chosen at the next step: DRBD's reconfiguration was seen taking 40 s here.)
  nfs_started_ = false;
  serve(v, {HomeAction::Serve, p.term, v.self.number, 0, p.why}, false);
  net_.sync(v.wg_priv, v.self.number, peers, true);
  {
    std::lock_guard<std::mutex> l(mu_);
    local_ = Local::Server, term_ = p.term, server_ = p.server, standby_ = 0;
    fenced_ = false, in_sync_ = false;
    error_.clear();
  }
  save();
  char took[32];
  std::snprintf(took, sizeof took, " (in %.1f s)", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  event(p.why + took);
  reset_home_connections();  // this node's own mount of the dead server
  // This node's own /home last: it is still the dead server's NFS mount, and the kernel revalidates
  // that mount's root when the path is resolved (by umount and mount alike). That lookup waited out
  // the NFS timeouts, a minute, while it came before the serving; now /home's address is here, the
  // lookup reaches this node's own NFS server and returns. The members are served meanwhile.
  rebind_home(now);
}

// /home's address has moved to another node: this node's NFS connections to it lead to the old
// server. Left alone, the kernel finds out only at its next TCP retransmission, and those back off
// exponentially: a client whose server died 25 s before the new one served waited until about 51 s
// after the death (measured: 52.9 to 75.3 s failovers). Aborted here (ss -K: sock_diag's destroy),
// the kernel's NFS client reconnects at once, to the new server. Only connections to port 2049 on
// /home's address: a server's own accepted connections (from that address, over loopback) stay.
void HomeShare::reset_home_connections() {
  const CommandResult r =
      run_.run({"ss", "-K", "-t", "-n", "dst", ip4_text(home_ip()), "dport", "=", ":2049"}, 30);
  if (r.status != 0) event("could not reset the NFS connections to the old server (they time out instead): " + r.output);
}

// The server's /home is the bind of its store; a promotion or a failed hand-over may have left the
// old NFS mount (or nothing) there.
void HomeShare::rebind_home(double now) {
  const std::string mounts = read_text(paths_.mounts);
  if (mount_source(mounts, paths_.dir) == mount_source(mounts, paths_.store) || now < next_bind_) return;
  next_bind_ = now + 5;
  const auto t0 = std::chrono::steady_clock::now();
  if (!bind_home()) return event("/home on this node is not the store yet (again in 5 s): " + error_);
  char took[80];
  std::snprintf(took, sizeof took, "/home on this node bound to the store in %.1f s",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  event(took);
}

void HomeShare::serve(const HomeView& v, const HomePlan& p, bool standby) {
  if (!nfs_started_) {
    // A restart puts the new server's NFS in its grace period: clients reclaim what they held.
    const auto t0 = std::chrono::steady_clock::now();
    if (!ok({"systemctl", "restart", "nfs-server"}, 120)) return;
    nfs_started_ = true;
    char took[96];
    std::snprintf(took, sizeof took, "NFS server started in %.1f s (10 s of grace for its clients)",
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    event(took);
  }
  // The standby changed (or, after a promotion, the resource still names the old server).
  if (const uint32_t peer = p.standby ? overlay_ip(p.standby) : 0;
      standby && (p.standby != standby_ || peer != drbd_.spec().peer_ip)) {
    DrbdSpec s = drbd_.spec();
    s.self_ip = overlay_ip(v.self.number), s.peer_ip = peer;
    const auto t0 = std::chrono::steady_clock::now();
    if (!ok_why(drbd_.write(s)) || !ok_why(drbd_.adjust())) return;
    if (!peer) drbd_.disconnect();
    if (const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); took > 5)
      event("DRBD took " + std::to_string(static_cast<int>(took)) + " s to take the new standby's address");
    {
      std::lock_guard<std::mutex> l(mu_);
      standby_ = p.standby;
    }
    save();
    event(p.standby ? "replicating to node " + std::to_string(p.standby) + " (a full resync first)"
                    : "no node to replicate to: /home is degraded (one copy)");
  }
  // The live members, and this node itself at /home's address: a mount of /home made here before
  // this node took it over (lazily unmounted, still open in a program) goes on over loopback.
  std::set<uint32_t> want = {home_ip()};
  for (const HomePeer& peer : v.live) want.insert(overlay_ip(peer.number));
  bool all = true;
  const std::string dir = paths_.store + "/home";
  for (uint32_t ip : want)
    if (!exported_.count(ip)) {
      // fsid=0: the NFSv4 root, mounted as "10.250.0.1:/"; the same on every server, so file
      // handles stay valid when the standby takes over (same filesystem, same inodes).
      if (ok({"exportfs", "-o", "rw,sync,no_subtree_check,no_root_squash,fsid=0", ip4_text(ip) + ":" + dir}, 60))
        exported_.insert(ip);
      else
        all = false;
    }
  for (auto it = exported_.begin(); it != exported_.end();) {
    if (want.count(*it) || !ok({"exportfs", "-u", ip4_text(*it) + ":" + dir}, 60)) ++it;
    else it = exported_.erase(it);
  }
  std::lock_guard<std::mutex> l(mu_);
  fenced_ = false;
  if (all) error_.clear();
}

void HomeShare::stand_by(const HomeView& v, const HomePlan& p, double now) {
  uint32_t size = 0;
  for (const HomePeer& peer : v.live)
    if (peer.number == p.server) size = peer.ad.size_mb;
  size = std::min<uint32_t>(size, 1u << 22);  // as [home] size_mb: at most 4 TB
  // A GRAPPE-HOME disk holds the copy when it is large enough (one found while this node stood
  // by in RAM takes over the copy).
  const bool disk = !disk_.empty() && size && disk_mb_ >= size;
  if (local_ == Local::Standby && term_ == p.term && server_ == p.server && (on_disk_ || !disk)) return;
  // This node just handed /home over to that node: its device is the complete copy already.
  if (local_ == Local::None && drbd_state_.configured && drbd_state_.role == "Secondary" &&
      drbd_.spec().peer_ip == overlay_ip(p.server) && (on_disk_ || !disk)) {
    {
      std::lock_guard<std::mutex> l(mu_);
      local_ = Local::Standby, term_ = p.term, server_ = p.server, standby_ = 0;
    }
    save();
    return event(p.why + " (the copy it handed over: no resync)");
  }
  if (now < next_try_) return;
  next_try_ = now + 10;
  if (!size) return ok_why("waiting for node " + std::to_string(p.server) + " to say the size of /home"), void();
  teardown();
  if (!ok_why(disk ? ram_.create_meta(size) : ram_.create(size)) ||
      !ok_why(drbd_.write({disk ? disk_ : ram_.device(), overlay_ip(v.self.number), overlay_ip(p.server), ram_.meta_device(), size})) ||
      !ok_why(drbd_.create(true)))
    return;
  {
    std::lock_guard<std::mutex> l(mu_);
    local_ = Local::Standby, term_ = p.term, server_ = p.server, standby_ = 0, in_sync_ = false, on_disk_ = disk;
    error_.clear();
  }
  save();
  event(p.why + ": resynchronising " + std::to_string(size) + " MB" + (disk ? " onto the GRAPPE-HOME disk " + disk_ : ""));
}

bool HomeShare::mount_client(double now) {
  const std::string mounted = home_server(read_text(paths_.mounts), paths_.dir), addr = ip4_text(home_ip());
  if (mounted == addr) return true;
  if (now < next_mount_) return false;
  next_mount_ = now + 5;
  if (!mounted.empty()) ok({"umount", "-i", "-l", "-c", paths_.dir}, 30);  // an older share (-c: bind_home)
  if (!ok({"mount", "-t", "nfs4", "-o", "soft,timeo=100,retrans=3,nosuid,nodev", addr + ":/", paths_.dir}, 60))
    return false;
  std::lock_guard<std::mutex> l(mu_);
  error_.clear();
  return true;
}

// The space of /home: measured on the server's own filesystem; the others take the server's
// figures from its advert (a statvfs over NFS would hang this thread while the server is gone).
void HomeShare::measure(const HomeView& v, uint16_t server) {
  uint64_t used = 0, free = 0;
  struct statvfs s{};
  if (local_ == Local::Server) {
    if (::statvfs(paths_.store.c_str(), &s) == 0) {
      used = (s.f_blocks - s.f_bfree) * s.f_frsize >> 20;
      free = s.f_bavail * s.f_frsize >> 20;
    }
  } else {
    for (const HomePeer& p : v.live)
      if (p.number == server) used = p.ad.used_mb, free = p.ad.free_mb;
  }
  std::lock_guard<std::mutex> l(mu_);
  used_mb_ = used, free_mb_ = free;
}

void HomeShare::step(double now) {
  HomeView v;
  {
    std::lock_guard<std::mutex> l(mu_);
    v = view_;
  }
  const DrbdState d = parse_proc_drbd(read_text(paths_.proc_drbd));
  {
    std::lock_guard<std::mutex> l(mu_);
    drbd_state_ = d;
    // A standby's copy is complete once DRBD says so; it stays complete when the server goes.
    in_sync_ = local_ == Local::Standby && d.up_to_date();
    // What the server's device was the last time it was connected: Secondary = handed over.
    if (local_ != Local::Standby) released_ = false;
    else if (d.cs == "Connected") released_ = d.peer_role == "Secondary";
  }
  if (!v.settled || !v.self.number) return;
  bool hand = false, kill = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    hand = std::exchange(handover_req_, false), kill = handover_kill_;
  }
  if (hand && local_ == Local::Server) {
    const std::string why = hand_over(kill);
    event(why.empty() ? "handed over to node " + std::to_string(standby_) : "not handed over: " + why);
    std::lock_guard<std::mutex> l(mu_);
    handover_why_ = why.empty() ? "" : "not handed over: " + why;
    if (why.empty()) return;
  }
  const size_t present = 1 + v.live.size();
  quorum_.observe(present, local_ == Local::Server);
  HomeInput in;
  in.self = {v.self.number, v.self.name, advert()};
  for (const HomePeer& p : v.live) in.others.push_back({p.number, p.name, p.ad});
  in.majority = quorum_.majority(present), in.tie = quorum_.tie(present);
  in.released = released_ && in_sync_;
  const bool left = local_ == Local::Standby && std::count(v.left.begin(), v.left.end(), server_) > 0;
  if (!left) server_left_since_ = -1;
  else if (server_left_since_ < 0) server_left_since_ = now;
  in.server_left_lately = left && now - server_left_since_ < 60;
  HomePlan plan = plan_home(in);
  // A new, empty /home only once the plan has held for a few seconds (the roles of members that
  // joined a moment ago may not have reached this node yet).
  if (plan.action != HomeAction::Found) found_since_ = -1;
  else if (found_since_ < 0) found_since_ = now;
  if (plan.action != last_action_) next_try_ = 0;  // the retry delay is per action
  last_action_ = plan.action;
  {
    std::lock_guard<std::mutex> l(mu_);
    plan_ = plan;
  }
  // The members' network first: /home is exported to, and mounted over, its addresses only; the
  // server's peer entry carries /home's address.
  // /home's address goes to a node that serves it; while none does (a server restarting its
  // grapped, a standby about to promote) it stays where it was.
  bool moved = false;
  if (plan.action == HomeAction::Mount || plan.action == HomeAction::Standby) {
    if (home_peer_ != plan.server) {
      event("/home's address now routed to node " + std::to_string(plan.server) + " (term " + std::to_string(plan.term) + ")");
      moved = true;
    }
    home_peer_ = plan.server;
  }
  else if (plan.action != HomeAction::Wait) home_peer_ = 0;
  std::vector<OverlayPeer> peers;
  for (const HomePeer& p : v.live)
    if (p.ip && !p.wg_pub.empty())
      peers.push_back({p.wg_pub, p.ip, p.number, home_peer_ == p.number && home_peer_ != v.self.number});
  const bool serving = local_ == Local::Server && (plan.action == HomeAction::Serve || plan.action == HomeAction::HandOver);
  if (std::string why = net_.sync(v.wg_priv, v.self.number, peers, serving); !why.empty()) {
    std::lock_guard<std::mutex> l(mu_);
    state_ = "starting the members' network", error_ = why;
    return;
  }
  if (moved) reset_home_connections();
  probe_disk(now);
  bool mounted = false;
  switch (plan.action) {
    case HomeAction::Wait: break;
    case HomeAction::Found:
      if (now - found_since_ >= 5) found(v, plan, now);
      break;
    case HomeAction::Promote: promote(v, plan, peers, now); break;
    case HomeAction::Serve:
      serve(v, plan);
      if (local_ == Local::Server) rebind_home(now);
      break;
    case HomeAction::HandOver:
      serve(v, plan);
      if (now >= next_try_) {
        next_try_ = now + 30;  // local processes holding /home: again later
        const std::string why = hand_over(false);
        event(why.empty() ? plan.why : "could not give /home to node " + std::to_string(plan.standby) + " yet: " + why);
      }
      break;
    case HomeAction::Fence:
      if (!fenced_) {
        unexport_all();
        net_.sync(v.wg_priv, v.self.number, peers, false);
        std::lock_guard<std::mutex> l(mu_);
        fenced_ = true;
        events_.push_back("home: " + plan.why);
      }
      break;
    case HomeAction::Demote:
      event(plan.why);
      teardown();
      break;
    case HomeAction::Standby:
    case HomeAction::Mount:
      if (plan.action == HomeAction::Standby) stand_by(v, plan, now);
      else if (local_ != Local::None) {
        event("no longer " + std::string(local_ == Local::Server ? "serving" : "holding a copy of") + " /home: " + plan.why);
        teardown();
      } else if (drbd_state_.configured && (plan.standby || drbd_.spec().peer_ip != overlay_ip(plan.server))) {
        teardown();  // the copy this node handed over, and the server picked another standby
      }
      mounted = mount_client(now);
      break;
  }
  measure(v, plan.server);
  // Degraded: no server, or no standby whose copy is complete (as the members advertise it).
  std::string why;
  if (!plan.server || plan.action == HomeAction::Fence || plan.action == HomeAction::Wait)
    why = "/home is not served: " + plan.why;
  else {
    const uint16_t sb = plan.standby;
    bool ok_sb = false;
    if (sb == v.self.number) ok_sb = in_sync_;
    for (const HomePeer& p : v.live)
      if (p.number == sb) ok_sb = p.ad.has(kHomeStandby) && p.ad.has(kHomeInSync) && p.ad.term == plan.term;
    if (!sb) why = "/home has no standby: one node holds it";
    else if (!ok_sb) why = "/home's standby, node " + std::to_string(sb) + ", does not hold a complete copy yet";
  }
  std::string name;
  for (const HomePeer& p : v.live)
    if (p.number == plan.server) name = p.name;
  std::lock_guard<std::mutex> l(mu_);
  last_now_ = now;
  if (why.empty()) degraded_since_ = -1;
  else if (degraded_since_ < 0 || why != degraded_why_) degraded_since_ = now;
  degraded_why_ = why;
  if (plan.action == HomeAction::Serve && local_ == Local::Server)
    state_ = "served from here to " + std::to_string(exported_.size() - exported_.count(home_ip())) + " node(s) at " +
             ip4_text(home_ip());
  else if (plan.action == HomeAction::Mount || plan.action == HomeAction::Standby)
    state_ = (mounted ? "mounted from node " : "mounting from node ") + std::to_string(plan.server) + " (" + name + ", " +
             ip4_text(home_ip()) + ")";
  else
    state_ = plan.why;
}

uint32_t home_mark_term(const std::string& text) {
  const size_t p = text.find("grappe-home term ");
  return p == std::string::npos ? 0 : static_cast<uint32_t>(std::strtoul(text.c_str() + p + 17, nullptr, 10));
}

// The term this filesystem is served at, on the filesystem itself (outside /home), so a
// GRAPPE-HOME disk holding it, or a copy of it, says how recent its /home is.
void HomeShare::mark(uint32_t term) {
  FileStore fs;
  ok_why(fs.write(paths_.store + "/" + kHomeMark, "grappe-home term " + std::to_string(term) + "\n"));
}

void HomeShare::probe_disk(double now) {
  if (on_disk_ || now < next_probe_) return;
  next_probe_ = now + 10;
  auto [dev, mb] = find_home_disk(run_, read_text(paths_.mounts));
  // The term its /home was last served at, from the mark every server leaves on its filesystem
  // (read without mounting it); 0: a new disk.
  uint32_t term = 0;
  if (!dev.empty()) {
    std::string out;
    if (run_checked(run_, {"debugfs", "-R", "cat /" + std::string(kHomeMark), dev}, 30, &out).empty())
      term = home_mark_term(out);
  }
  if (dev == disk_ && mb == disk_mb_ && term == disk_term_) return;
  if (!dev.empty())
    event("found the GRAPPE-HOME disk " + dev + " (" + std::to_string(mb) + " MB, " +
          (term ? "holding a /home of term " + std::to_string(term) : std::string("new")) + ")");
  else event("the GRAPPE-HOME disk " + disk_ + " is gone");
  std::lock_guard<std::mutex> l(mu_);
  disk_ = dev, disk_mb_ = mb, disk_term_ = term;
}

std::string HomeShare::request_hand_over(bool kill) {
  std::lock_guard<std::mutex> l(mu_);
  if (local_ != Local::Server) return kNotServing;
  if (!standby_) return "/home has no standby to take it: stopping this node loses what it holds" +
                        std::string(on_disk_ ? "" : " (RAM-backed)");
  handover_req_ = true, handover_kill_ = kill;
  handover_why_.clear();  // what `grappe home hand-over` waits on
  return "";
}

// NFS first: its open state holds the filesystem. Then a plain umount, which flushes it; the
// device must be closed for Secondary. Any step that fails puts back what the earlier ones undid
// (serve() exports again on the next step).
std::string HomeShare::hand_over(bool kill) {
  if (!standby_ || !drbd_state_.peer_up_to_date() || drbd_state_.cs != "Connected")
    return "node " + std::to_string(standby_) + " does not hold a complete copy (" + drbd_state_.cs + ", " +
           drbd_state_.peer_disk + ")";
  std::vector<int> held = holders_of(paths_.proc, paths_.dir);
  for (int pid : holders_of(paths_.proc, paths_.store)) held.push_back(pid);
  if (!held.empty() && !kill) {
    std::string pids;
    for (int pid : held) pids += (pids.empty() ? "" : " ") + std::to_string(pid);
    return "processes of this node hold files in /home (pids " + pids + "); they would lose them";
  }
  for (int pid : held) ::kill(pid, SIGKILL);
  if (!held.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  // The kernel's NFS server stops first (not through systemctl: at shutdown its stop job waits
  // behind this one), so clients see no server for a moment and retry: an export removed while it
  // still ran would answer them "permission denied".
  ok({"rpc.nfsd", "0"}, 60);
  unexport_all();
  nfs_started_ = false;
  if (!ok({"umount", paths_.dir}, 60)) return "cannot unmount /home: " + error_;
  if (!ok({"umount", paths_.store}, 120)) {
    const std::string why = error_;
    bind_home();
    return "cannot unmount " + paths_.store + ": " + why;
  }
  if (std::string why = drbd_.secondary(); !why.empty()) {
    ok({"mount", "-o", "noatime", "/dev/drbd0", paths_.store}, 120);
    bind_home();
    return why;
  }
  // The standby looks at its peer's role once a second: it sees this one Secondary, connected, and
  // takes over without waiting for a majority. This node stays its peer until it picks another.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  {
    std::lock_guard<std::mutex> l(mu_);
    local_ = Local::None, in_sync_ = false;
  }
  save();
  return "";
}

std::string HomeShare::degraded() const {
  std::lock_guard<std::mutex> l(mu_);
  return degraded_since_ >= 0 && last_now_ - degraded_since_ >= 30 ? degraded_why_ : "";
}

void HomeShare::start() {
  worker_.start(std::chrono::seconds(1), [this](double now) { step(now); });
}

nlohmann::json HomeShare::status() const {
  std::lock_guard<std::mutex> l(mu_);
  const char* role = local_ == Local::Server ? (fenced_ ? "fenced" : "server")
                     : local_ == Local::Standby ? "standby"
                     : plan_.action == HomeAction::Mount ? "client" : "waiting";
  std::string sync;
  if (local_ == Local::Server) {
    if (!standby_) sync = "degraded: no standby";
    else if (drbd_state_.sync_pct >= 0) sync = "resyncing to node " + std::to_string(standby_) + ", " +
                                              std::to_string(static_cast<int>(drbd_state_.sync_pct)) + " %";
    else if (drbd_state_.cs == "Connected" && drbd_state_.peer_up_to_date()) sync = "in sync with node " + std::to_string(standby_);
    else sync = "degraded: node " + std::to_string(standby_) + " not connected (" + drbd_state_.cs + ")";
  } else if (local_ == Local::Standby) {
    sync = drbd_state_.sync_pct >= 0 ? "resyncing from node " + std::to_string(server_) + ", " +
                                           std::to_string(static_cast<int>(drbd_state_.sync_pct)) + " %"
           : in_sync_ ? "in sync with node " + std::to_string(server_)
                      : "copy incomplete (" + drbd_state_.cs + ", " + drbd_state_.disk + ")";
  }
  nlohmann::json j = {{"role", role},      {"state", state_},      {"server", plan_.server},
                      {"standby", local_ == Local::Server ? standby_ : plan_.standby},
                      {"term", local_ != Local::None ? term_ : plan_.term},
                      {"used_mb", used_mb_}, {"free_mb", free_mb_}, {"known_members", quorum_.known()}};
  if (!sync.empty()) j["sync"] = sync;
  if (degraded_since_ >= 0 && last_now_ - degraded_since_ >= 30) j["degraded"] = degraded_why_;
  if (local_ != Local::None) {
    const uint16_t self = local_ == Local::Server ? server_ : view_.self.number;
    j["backing"] = (on_disk_ ? "disk GRAPPE-HOME (" + disk_ + ") on node " + std::to_string(self) + ", " : std::string("RAM, ")) +
                   std::to_string(drbd_.spec().size_mb) + " MB";
    j["size_mb"] = drbd_.spec().size_mb;
  } else {
    // The server's backing, as it advertises it.
    for (const HomePeer& p : view_.live)
      if (p.number == plan_.server && p.ad.has(kHomeServer))
        j["backing"] = (p.ad.has(kHomeDisk) ? "disk GRAPPE-HOME on node " + std::to_string(p.number) : std::string("RAM")) +
                       ", " + std::to_string(p.ad.size_mb) + " MB";
  }
  if (!disk_.empty()) j["disk"] = disk_ + " (GRAPPE-HOME, " + std::to_string(disk_mb_) + " MB)" + (on_disk_ ? "" : ", not in use");
  if (!error_.empty()) j["error"] = error_;
  if (!handover_why_.empty()) j["hand_over"] = handover_why_;
  return j;
}

}  // namespace grappe
