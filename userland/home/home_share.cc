#include "home/home_share.h"

#include <arpa/inet.h>

#include <chrono>
#include <sstream>

#include "common/text_file.h"

namespace grappe {
std::optional<HomePeer> choose_founder(const HomeView& v) {
  if (!v.settled || !v.self.number) return std::nullopt;
  const HomePeer* best = &v.self;
  for (const HomePeer& p : v.live)
    if (p.number && p.number < best->number) best = &p;
  return *best;
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

HomeShare::HomeShare(CommandRunner& run, std::string net_dir, std::string mounts_file, std::string dir)
    : run_(run), net_(run, std::move(net_dir)), mounts_file_(std::move(mounts_file)), dir_(std::move(dir)) {}

HomeShare::~HomeShare() { worker_.stop(); }

void HomeShare::observe(const HomeView& v) {
  std::lock_guard<std::mutex> l(mu_);
  view_ = v;
}

bool HomeShare::ok(const std::vector<std::string>& argv, double timeout_s) {
  CommandResult r = run_.run(argv, timeout_s);
  if (r.status == 0) return true;
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  std::lock_guard<std::mutex> l(mu_);
  error_ = "'" + cmd + "' failed (status " + std::to_string(r.status) + "): " + first_line(r.output);
  return false;
}

void HomeShare::step(double now) {
  HomeView v;
  {
    std::lock_guard<std::mutex> l(mu_);
    v = view_;
  }
  auto f = choose_founder(v);
  if (!f) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    founder_ = f->name, founder_number_ = f->number;
  }
  // The members' network first: /home is exported to, and mounted over, its addresses only.
  std::vector<OverlayPeer> peers;
  for (const HomePeer& p : v.live)
    if (p.ip && !p.wg_pub.empty()) peers.push_back({p.wg_pub, p.ip, p.number});
  if (std::string why = net_.sync(v.wg_priv, v.self.number, peers); !why.empty()) {
    std::lock_guard<std::mutex> l(mu_);
    state_ = "starting the members' network", error_ = why;
    return;
  }
  if (f->name == v.self.name) {
    if (!server_started_) {
      {
        std::lock_guard<std::mutex> l(mu_);
        role_ = "serve", state_ = "starting the NFS server";
      }
      if (now < next_start_) return;
      next_start_ = now + 10;
      if (!ok({"systemctl", "start", "nfs-server"}, 120)) return;
      server_started_ = true;
    }
    std::set<uint32_t> want;
    for (const OverlayPeer& p : peers) want.insert(overlay_ip(p.number));
    bool all = true;
    for (uint32_t ip : want)
      if (!exported_.count(ip)) {
        // fsid=0: /home is the NFSv4 root, mounted as "server:/". The pseudo-root NFSv4 would
        // build otherwise starts at "/", an overlayfs that cannot be exported (ENOENT).
        if (ok({"exportfs", "-o", "rw,sync,no_subtree_check,no_root_squash,fsid=0", ip4_text(ip) + ":" + dir_}, 60))
          exported_.insert(ip);
        else
          all = false;
      }
    for (auto it = exported_.begin(); it != exported_.end();) {
      if (want.count(*it) || !ok({"exportfs", "-u", ip4_text(*it) + ":" + dir_}, 60)) ++it;
      else it = exported_.erase(it);
    }
    std::lock_guard<std::mutex> l(mu_);
    role_ = "serve";
    state_ = "served from here to " + std::to_string(exported_.size()) + " node(s)";
    if (all) error_.clear();
    return;
  }
  // Another node is the founder now: stop serving (clusters that booted apart have merged).
  for (auto it = exported_.begin(); it != exported_.end();)
    it = ok({"exportfs", "-u", ip4_text(*it) + ":" + dir_}, 60) ? exported_.erase(it) : std::next(it);
  const std::string server = ip4_text(overlay_ip(f->number)), mounted = home_server(read_text(mounts_file_), dir_);
  const std::string from = "node " + std::to_string(f->number) + " (" + f->name + ", " + server + ")";
  if (mounted == server) {
    std::lock_guard<std::mutex> l(mu_);
    role_ = "mount";
    state_ = "mounted from " + from;
    error_.clear();
    return;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    role_ = "mount";
    state_ = "mounting from " + from;
  }
  if (now < next_mount_) return;
  next_mount_ = now + 5;
  if (!mounted.empty()) ok({"umount", "-l", dir_}, 30);  // the previous founder's share
  if (ok({"mount", "-t", "nfs4", "-o", "soft,timeo=100,retrans=3,nosuid,nodev", server + ":/", dir_}, 60)) {
    std::lock_guard<std::mutex> l(mu_);
    state_ = "mounted from " + from;
    error_.clear();
  }
}

void HomeShare::start() {
  worker_.start(std::chrono::seconds(1), [this](double now) { step(now); });
}

nlohmann::json HomeShare::status() const {
  std::lock_guard<std::mutex> l(mu_);
  nlohmann::json j = {{"role", role_}, {"state", state_}, {"founder", founder_}, {"founder_number", founder_number_}};
  if (!error_.empty()) j["error"] = error_;
  return j;
}

}  // namespace grappe
