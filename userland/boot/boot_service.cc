#include "boot/boot_service.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include "boot/boot_admit.h"
#include "boot/boot_announce.h"
#include "boot/boot_keys.h"
#include "boot/boot_nodes.h"
#include "common/text_file.h"

namespace grappe {
namespace fs = std::filesystem;
namespace {

// A server may take its time with the first offer: dnsmasq pings an address it has never leased
// before offering it (up to 3 s). 4 discovers, 2 s apart, before deciding that none is there.
constexpr int kProbeAttempts = 4;
constexpr double kProbeWaitS = 2.0;

std::string cidr(uint32_t addr, uint32_t mask) {
  return ipv4_text(addr) + "/" + std::to_string(__builtin_popcount(ntohl(mask)));
}

bool write_atomic(const std::string& path, const std::string& text) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream o(tmp, std::ios::trunc);
    if (!(o << text)) return false;
  }
  fs::rename(tmp, path, ec);
  return !ec;
}

std::string sha256_text(const std::string& data) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  char hex[sizeof h * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  return hex;
}

std::string mac_text(const std::array<uint8_t, 6>& m) {
  char b[18];
  std::snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return b;
}

// Copies the iPXE loaders from `from` into `to` (0755, files 0644); "" or what failed.
std::string copy_tftp_loaders(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::create_directories(to, ec);
  fs::permissions(to, fs::perms(0755), ec);
  for (const char* name : {"undionly.kpxe", "snponly.efi"}) {
    const fs::path src = fs::path(from) / name, dst = fs::path(to) / name, tmp = dst.string() + ".tmp";
    fs::copy_file(src, tmp, fs::copy_options::overwrite_existing, ec);
    if (!ec) fs::permissions(tmp, fs::perms(0644), ec);
    if (!ec) fs::rename(tmp, dst, ec);
    if (ec) return "cannot copy " + src.string() + " to " + to + " for TFTP: " + ec.message();
  }
  return "";
}

}  // namespace

bool broadcast_boot_announcement(const std::string& ifname, const std::string& packet) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(), static_cast<socklen_t>(ifname.size()));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(kBootAnnouncePort);
  to.sin_addr.s_addr = htonl(INADDR_BROADCAST);
  const bool ok = ::sendto(fd, packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
                  static_cast<ssize_t>(packet.size());
  ::close(fd);
  return ok;
}

BootFiles find_boot_files(const std::string& run_dir) {
  BootFiles b;
  const fs::path m = fs::path(run_dir) / "medium";
  if (fs::exists(m / "live/base.squashfs")) {
    b.files = {{"vmlinuz", (m / "boot/vmlinuz").string()},       {"initrd.img", (m / "boot/initrd.img").string()},
               {"base.squashfs", (m / "live/base.squashfs").string()}, {"node.squashfs", (m / "live/node.squashfs").string()},
               {"SHA256SUMS", (m / "live/SHA256SUMS").string()},   {"boot.ipxe", (m / "pxe/boot.ipxe").string()},
               // TFTP serves the loaders to plain PXE firmware; HTTP too, for network-booted
               // nodes keeping a copy (grappe-init) and for chainloading.
               {"undionly.kpxe", (m / "pxe/undionly.kpxe").string()}, {"snponly.efi", (m / "pxe/snponly.efi").string()}};
    b.tftp_root = (m / "pxe").string();
    for (const auto& [name, path] : b.files)
      if (!fs::exists(path)) b.why = "the boot medium lacks " + path + " (an image built before network boot serving?)";
    return b;
  }
  if (fs::exists(fs::path(run_dir) / "fetched")) {
    // grappe-init writes why it could not keep a copy of what the network boot served.
    std::string why = read_text((fs::path(run_dir) / "boot-copy-failed").string());
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    b.why = "this node was booted from the network and could not keep a copy of the boot files" +
            (why.empty() ? std::string() : ": " + why);
  } else
    b.why = "no boot medium under " + m.string();
  return b;
}

uint32_t choose_boot_subnet(const std::vector<std::pair<uint32_t, uint32_t>>& used) {
  for (uint32_t x = 71; x < 256; ++x) {
    const uint32_t net = (10u << 24) | (x << 16), mask = 0xffffff00u;  // host order: 10.x.0.0/24
    bool clash = false;
    for (const auto& [a, m] : used) {
      const uint32_t ua = ntohl(a), um = ntohl(m), common = um & mask;  // the wider of the two masks
      if ((ua & common) == (net & common)) clash = true;
    }
    if (!clash) return htonl(net);
  }
  return 0;
}

std::string render_dnsmasq(const std::string& tpl, const std::string& mode, const std::map<std::string, std::string>& vars) {
  std::istringstream in(tpl);
  std::string out, line;
  while (std::getline(in, line)) {
    if (line.rfind("full:", 0) == 0 || line.rfind("proxy:", 0) == 0) {
      const std::string want = mode + ":";
      if (line.rfind(want, 0) != 0) continue;
      line = line.substr(want.size());
    }
    for (size_t at; (at = line.find('@')) != std::string::npos;) {
      size_t end = line.find('@', at + 1);
      if (end == std::string::npos) break;
      const std::string name = line.substr(at + 1, end - at - 1);
      auto it = vars.find(name);
      if (it == vars.end()) throw std::runtime_error("dnsmasq template: unknown @" + name + "@");
      line.replace(at, end - at + 1, it->second);
    }
    out += line + "\n";
  }
  return out;
}

// The script points iPXE back at the address it reached us on. Asked without ?mac=, it has iPXE
// ask again with the PC's MAC; with it, it adds that PC's settings (grappe-extra, appended to the
// kernel command line by boot.ipxe) and chains the image's boot.ipxe.
std::string BootService::node_script(const std::string& mac, const std::string& host) {
  std::string s = "#!ipxe\n# Grappe: served by a node of the cluster\nset grappe-base http://" + host + "/grappe/\n";
  if (mac.empty()) return s + "chain ${grappe-base}node.ipxe?mac=${netX/mac:hexhyp} || chain ${grappe-base}boot.ipxe\n";
  std::string err;
  std::error_code ec;
  if (fs::exists(env_.nodes_path, ec)) {
    try {
      const auto rules = parse_boot_nodes(read_text(env_.nodes_path), env_.nodes_path);
      if (const BootNodeRule* r = match_boot_node(rules, mac); r && !boot_node_args(*r).empty())
        s += "set grappe-extra" + boot_node_args(*r) + "\n";
    } catch (const std::exception& e) {
      err = e.what();
      s += "echo Grappe: the serving node's " + env_.nodes_path + " has an error; booting with default settings\n";
    }
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    nodes_error_ = err;
  }
  return s + "chain ${grappe-base}boot.ipxe\n";
}

BootService::BootService(BootEnv env) : env_(std::move(env)), signer_(boot_signing_keys_from_seed(env_.boot_seed)) {}

std::pair<int, std::string> BootService::admit(const std::string& mac_in, const std::string& pk, const std::string& remote) {
  const std::string mac = canonical_mac(mac_in);
  BoxPublic pc{};
  if (mac.empty() || !parse_hex(pk, pc)) return {400, "admit needs ?mac=MAC&pk=64 lower-case hex digits\n"};
  // Only a PC on the segment this node serves, and never a member (an unprivileged user there
  // must not get the key by asking for it) nor this node itself.
  in_addr from{};
  if (::inet_pton(AF_INET, remote.c_str(), &from) != 1) return {403, "not admitted: not an IPv4 client\n"};
  {
    std::lock_guard<std::mutex> l(mu_);
    const uint32_t a = from.s_addr;
    const bool test_pc = env_.loopback_is_a_pc && (ntohl(a) >> 24) == 127;
    bool member = !test_pc && (ntohl(a) >> 24) == 127;
    for (const auto& i : view_.ifaces) member |= i.addr == a;
    for (uint32_t m : view_.member_ips) member |= m == a;
    if (member) return {403, "not admitted: " + remote + " is this cluster's member already\n"};
    if (!test_pc && (!served_mask_ || (a & served_mask_) != served_net_)) return {403, "not admitted: " + remote + " is not on the segment served\n"};
  }
  if (env_.rekeying && env_.rekeying()) return {503, "the cluster is changing its key; ask again in a few seconds\n"};
  const AdmitPolicy policy = [&] {  // the cluster's, once set; this node's grapped.toml before
    std::lock_guard<std::mutex> l(mu_);
    return effective_policy(view_.admission_setting, env_.admit_policy).policy;
  }();
  std::vector<BootNodeRule> rules;
  std::string rules_error;
  std::error_code ec;
  try {  // every policy honours a PC's `join = false`; `listed` needs a rule
    if (fs::exists(env_.nodes_path, ec)) rules = parse_boot_nodes(read_text(env_.nodes_path), env_.nodes_path);
    else if (policy == AdmitPolicy::Listed) rules_error = env_.nodes_path + " does not exist";
  } catch (const std::exception& e) {
    rules_error = e.what();
  }
  if (env_.forgotten && env_.forgotten(mac))
    return {403, "not admitted: " + mac + " is a node root forgot (grappe node forget); root lets it in again with grappe node unforget " + mac + "\n"};
  if (const BootNodeRule* r = rules_error.empty() ? match_boot_node(rules, mac) : nullptr; r && !r->join)
    return {403, "not admitted: its boot-nodes.toml rule " + r->mac + " says join = false\n"};
  AdmitDecision d;
  bool first_wait = false;
  const std::string fpr = pk.substr(0, 12);  // the PC prints it on its console
  {
    std::lock_guard<std::mutex> l(mu_);
    const double now = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    for (auto it = pending_.begin(); it != pending_.end();) it = now - it->second.last > 60 ? pending_.erase(it) : std::next(it);
    auto a = answers_.find(mac);
    const bool mine = a != answers_.end() && a->second.pk == pk;  // root answered for this very key
    d = decide_admission(policy, rules, rules_error, mac, mine ? &a->second.admit : nullptr);
    if (d.pending) {
      if (pending_.size() >= 256 && !pending_.count(mac)) return {503, "too many PCs waiting to be admitted\n"};
      Pending& p = pending_[mac];
      first_wait = p.since == 0 || p.pk != pk;
      if (first_wait) p.since = now;
      p.last = now, p.remote = remote, p.pk = pk;
    } else {
      pending_.erase(mac);
      if (mine) answers_.erase(a);  // used once
      ++(d.admit ? admitted_ : refused_);
    }
  }
  if (d.pending) {
    if (first_wait)
      env_.say("grappe: " + mac + " (" + remote + ", key " + fpr + ") asks to join; on " + env_.self_name +
               ": grappe admit " + mac + " or grappe deny " + mac);
    return {202, "pending: on " + env_.self_name + ", root runs grappe admit " + mac + " (or grappe deny)\n"};
  }
  const std::string line = std::string("grappe: ") + (d.admit ? "admitted " : "refused ") + mac + " (" + remote +
                           ", key " + fpr + ") by " + env_.self_name + ": " + d.why;
  {
    std::lock_guard<std::mutex> l(mu_);
    last_admission_ = line.substr(8);
  }
  env_.say(line);
  if (!d.admit) return {403, "not admitted: " + d.why + "\n"};
  if (!env_.member) return {503, "this node cannot give credentials\n"};
  std::string reply = make_admission(signer_, env_.member(), pc, mac);
  if (reply.empty()) return {400, "cannot seal the key to that public key\n"};
  return {200, reply};
}
BootService::~BootService() {
  worker_.stop();  // before http_ and the state its steps use
  http_.stop();
}

void BootService::observe(const BootView& v) {
  std::lock_guard<std::mutex> l(mu_);
  view_ = v;
}

void BootService::start() {
  worker_.start(std::chrono::seconds(1), [this](double now) { step(now); });
}

void BootService::stop_serving() {
  env_.run->run({"systemctl", "stop", env_.unit}, 30);
  http_.stop();
  if (added_addr_) env_.run->run({"ip", "addr", "del", cidr(added_addr_, htonl(0xffffff00u)), "dev", iface_}, 10);
  std::lock_guard<std::mutex> l(mu_);
  added_addr_ = 0;
  serving_ = false;
  served_net_ = served_mask_ = 0;
  mode_.clear(), url_.clear(), range_.clear(), why_.clear();
}

bool BootService::serve(double now, const BootView& v) {
  auto failed = [&](const std::string& e) {
    std::lock_guard<std::mutex> l(mu_);
    error_ = e;
    next_try_ = now + 10;
    return false;
  };
  BootFiles files = find_boot_files(env_.run_dir);
  if (!files.why.empty()) return failed("cannot serve network boot: " + files.why);
  if (v.ifaces.empty()) return failed("cannot serve network boot: no IPv4 interface");
  const NetIf& nic = v.ifaces.front();
  std::string err;
  auto sock = env_.open_probe(nic.name, err);
  if (!sock) return failed("cannot probe for a DHCP server on " + nic.name + ": " + err);
  std::vector<uint32_t> mine;
  for (const auto& i : v.ifaces) mine.push_back(i.addr);
  std::mt19937 rng(std::random_device{}());
  auto offer = probe_dhcp(*sock, nic.mac, static_cast<uint32_t>(rng()), kProbeAttempts, kProbeWaitS, mine);
  sock.reset();

  std::string mode, why, range;
  uint32_t server_ip = nic.addr, added = 0;
  if (offer) {
    mode = "proxy";
    why = "DHCP server " + ipv4_text(offer->server) + " answered on " + nic.name + ": addresses stay with it";
    range = ipv4_text(nic.addr & nic.mask) + ",proxy";
  } else {
    std::vector<std::pair<uint32_t, uint32_t>> used;
    for (const auto& i : v.ifaces) used.push_back({i.addr & i.mask, i.mask});
    for (uint32_t n : v.used_nets) used.push_back({n, htonl(0xffffff00u)});
    const uint32_t net = choose_boot_subnet(used);
    if (!net) return failed("cannot serve network boot: no free private /24 under 10.71-255.x");
    added = htonl(ntohl(net) | 1);
    auto r = env_.run->run({"ip", "addr", "replace", cidr(added, htonl(0xffffff00u)), "dev", nic.name}, 10);
    if (r.status != 0) return failed("cannot add " + ipv4_text(added) + " to " + nic.name + ": " + r.output);
    server_ip = added;
    mode = "full";
    why = "no DHCP server answered on " + nic.name + " in " + std::to_string(static_cast<int>(kProbeAttempts * kProbeWaitS)) + " s: serving addresses from " + cidr(net, htonl(0xffffff00u));
    range = ipv4_text(htonl(ntohl(net) | 50)) + "," + ipv4_text(htonl(ntohl(net) | 250)) + ",255.255.255.0,1h";
  }
  auto undo_addr = [&] {
    if (added) env_.run->run({"ip", "addr", "del", cidr(added, htonl(0xffffff00u)), "dev", nic.name}, 10);
  };
  // dnsmasq's TFTP drops root, and the medium is mounted for root alone (it carries the cluster
  // key): the loaders it hands out go to a world-readable copy.
  const std::string tftp = env_.run_dir + "/boot/tftp";
  if (std::string terr = copy_tftp_loaders(files.tftp_root, tftp); !terr.empty()) return undo_addr(), failed(terr);
  files.tftp_root = tftp;
  auto script = [this](const std::string& name, const std::string& mac, const std::string& host) -> std::string {
    return name == "node.ipxe" ? node_script(mac, host) : "";
  };
  http_.set_admit([this](const std::string& mac, const std::string& pk, const std::string& remote) {
    return admit(mac, pk, remote);
  });
  if (!http_.start(env_.http_bind, env_.http_port, files.files, script, err)) return undo_addr(), failed(err);
  const std::string base =
      "http://" + ipv4_text(server_ip) + (http_.port() == 80 ? "" : ":" + std::to_string(http_.port())) + "/grappe/";
  std::string conf;
  try {
    conf = render_dnsmasq(read_text(env_.template_path), mode,
                          {{"IFACE", nic.name}, {"RANGE", range}, {"TFTP_ROOT", files.tftp_root}, {"URL", base + "node.ipxe"},
                           {"MODE", mode}, {"SELF_MAC", mac_text(nic.mac)}});
  } catch (const std::exception& e) {
    http_.stop();
    return undo_addr(), failed(std::string("cannot render ") + env_.template_path + ": " + e.what());
  }
  if (conf.empty() || !write_atomic(env_.conf_path, conf)) {
    http_.stop();
    return undo_addr(), failed("cannot write " + env_.conf_path + " (template " + env_.template_path + " missing or empty?)");
  }
  auto r = env_.run->run({"systemctl", "restart", env_.unit}, 30);
  if (r.status != 0) {
    http_.stop();
    return undo_addr(), failed("cannot start dnsmasq (" + env_.unit + "): " + r.output);
  }
  std::lock_guard<std::mutex> l(mu_);
  serving_ = true;
  added_addr_ = added;
  served_addr_ = nic.addr;
  // The segment PCs boot on: the interface's network (proxy), or the /24 this node leases from.
  served_mask_ = added ? htonl(0xffffff00u) : nic.mask;
  served_net_ = (added ? added : nic.addr) & served_mask_;
  iface_ = nic.name, mode_ = mode, why_ = why, url_ = base + "node.ipxe", range_ = range;
  error_.clear();
  next_check_ = now + 5;
  announcement_ = encode_boot_announcement(signer_.sec, {env_.cluster, base, sha256_text(read_text(files.files.at("SHA256SUMS")))});
  next_announce_ = now;
  return true;
}

void BootService::step(double now) {
  BootView v;
  bool serving;
  {
    std::lock_guard<std::mutex> l(mu_);
    v = view_;
    serving = serving_;
  }
  const bool should = v.enabled && v.server;
  if (!should) {
    if (serving) stop_serving();
    std::lock_guard<std::mutex> l(mu_);
    role_ = !v.enabled ? "off" : "standby";
    error_.clear();
    return;
  }
  if (!serving) {
    {
      std::lock_guard<std::mutex> l(mu_);
      role_ = "starting";
      if (now < next_try_) return;
    }
    if (!serve(now, v)) return;
    std::lock_guard<std::mutex> l(mu_);
    role_ = "serving";
  }  // serving: announce at once, then every 2 s
  if (now >= next_announce_) {
    next_announce_ = now + 2;
    std::string packet, ifname;
    {
      std::lock_guard<std::mutex> l(mu_);
      packet = announcement_, ifname = iface_;
    }
    env_.announce(ifname, packet);
  }
  if (now < next_check_) return;
  next_check_ = now + 5;
  // Proxy mode answers for the interface's network and points iPXE at its address. A node that
  // started serving on its link-local address and then got a lease from the segment's DHCP server
  // (networkd) must start again on the new one, or PXE clients get no answer.
  std::string moved;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto nic = std::find_if(v.ifaces.begin(), v.ifaces.end(), [&](const NetIf& n) { return n.name == iface_; });
    if (mode_ == "proxy" && (nic == v.ifaces.end() || nic->addr != served_addr_))
      moved = iface_ + "'s address changed from " + ipv4_text(served_addr_) + " to " +
              (nic == v.ifaces.end() ? std::string("none") : ipv4_text(nic->addr)) + "; serving again";
  }
  if (!moved.empty()) {
    stop_serving();
    std::lock_guard<std::mutex> l(mu_);
    role_ = "starting";
    error_ = moved;
    next_try_ = now;
    return;
  }
  if (env_.run->run({"systemctl", "is-active", "--quiet", env_.unit}, 10).status != 0) {
    auto r = env_.run->run({"systemctl", "restart", env_.unit}, 30);
    std::lock_guard<std::mutex> l(mu_);
    ++restarts_;
    error_ = r.status == 0 ? "dnsmasq had stopped; restarted it" : "dnsmasq stopped and does not restart: " + r.output;
  }
}

std::string BootService::answer(const std::string& mac_in, bool admit) {
  const std::string mac = canonical_mac(mac_in);
  if (mac.empty()) return "'" + mac_in + "' is not a MAC address (like 52:54:00:12:34:56)";
  std::lock_guard<std::mutex> l(mu_);
  if (!serving_)
    return "this node does not serve network boot" +
           (view_.founder.empty() ? std::string() : "; run it on the node that does: " + view_.founder);
  auto p = pending_.find(mac);
  if (p == pending_.end()) return "no PC with MAC " + mac + " is waiting to join (grappe boot-server status lists those waiting)";
  answers_[mac] = {admit, p->second.pk};  // for the key it asked with: a new key asks anew
  return "";
}

nlohmann::json BootService::status() const {
  std::lock_guard<std::mutex> l(mu_);
  nlohmann::json j = {{"enabled", view_.enabled}, {"role", role_}, {"error", error_}, {"founder", view_.founder}};
  const EffectivePolicy pol = effective_policy(view_.admission_setting, env_.admit_policy);
  j["admission_policy"] = {{"policy", admit_policy_name(pol.policy)}, {"from", pol.from}};
  if (serving_) {
    j["mode"] = mode_;
    j["why"] = why_;
    j["url"] = url_;
    j["interface"] = iface_;
    j["dhcp_range"] = range_;
    j["http_requests"] = http_.stats().requests.load();
    j["http_bytes"] = http_.stats().bytes.load();
    const WorkerPoolStats w = http_.workers();
    j["http_connections"] = {{"busy", w.busy}, {"queued", w.queued}, {"workers", w.workers}, {"peak", w.peak_busy},
                             {"max", kBootHttpWorkers}};
    j["dnsmasq_restarts"] = restarts_;
    nlohmann::json waiting = nlohmann::json::array();
    const double now = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    for (const auto& [mac, p] : pending_)
      if (now - p.last < 60)
        waiting.push_back({{"mac", mac}, {"address", p.remote}, {"key", p.pk.substr(0, 12)}, {"waiting_s", static_cast<int>(now - p.since)}});
    j["admission"] = {{"policy", admit_policy_name(pol.policy)}, {"from", pol.from}, {"admitted", admitted_}, {"refused", refused_},
                      {"last", last_admission_}, {"pending", waiting}};
    if (!nodes_error_.empty()) j["nodes_error"] = nodes_error_;
  }
  return j;
}

}  // namespace grappe
