#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/text_file.h"
#include "cli/home_init.h"
#include "home/home_share.h"

using namespace grappe;

namespace {
struct FakeRunner : CommandRunner {
  std::vector<std::string> calls, net;  // NFS and mount commands; the members' network's (ip, wg)
  std::vector<std::string> all;  // both, in order
  std::string mounts;  // a /proc/mounts stand-in: umount takes the last mount on its path off it
  void unmount(const std::string& dir) {
    std::vector<std::string> lines;
    std::ifstream in(mounts);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    for (size_t i = lines.size(); i-- > 0;) {
      std::istringstream f(lines[i]);
      std::string what, where;
      f >> what >> where;
      if (where == dir) {
        lines.erase(lines.begin() + static_cast<long>(i));
        break;
      }
    }
    std::ofstream file(mounts);
    for (const std::string& l : lines) file << l << "\n";
  }
  std::map<std::string, int> fail;  // command prefix -> status
  std::map<std::string, std::string> out;  // command prefix -> its output (status 0)
  CommandResult run(const std::vector<std::string>& argv, double) override {
    std::string c;
    for (const auto& a : argv) c += (c.empty() ? "" : " ") + a;
    (argv[0] == "ip" || argv[0] == "wg" ? net : calls).push_back(c);
    all.push_back(c);
    if (argv[0] == "umount" && !mounts.empty() && !fail.count("umount")) unmount(argv.back());
    for (const auto& [prefix, st] : fail)
      if (c.rfind(prefix, 0) == 0) return {st, "mount.nfs4: Connection refused\nmore"};
    for (const auto& [prefix, text] : out)
      if (c.rfind(prefix, 0) == 0) return {0, text};
    return {0, ""};
  }
};
uint32_t ip(uint8_t last) { return htonl(0x0a000000u | last); }  // 10.0.0.<last>
HomeView view(uint16_t self, std::vector<HomePeer> live, bool settled = true) {
  HomeView v;
  v.settled = settled;
  v.self = {self, "n" + std::to_string(self), 0, "", {}};
  v.live = std::move(live);
  v.wg_priv = "cHJpdg==";
  return v;
}
HomePeer peer(uint16_t n) { return {n, "n" + std::to_string(n), ip(static_cast<uint8_t>(n)), "pub" + std::to_string(n), {}}; }
std::string tmp_dir() {
  auto d = std::filesystem::temp_directory_path() / ("grappe-test-net-" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d.string();
}
}  // namespace

TEST_CASE("home share: the founder (of network boot) is the lowest live number") {
  CHECK_FALSE(choose_founder(view(1, {}, false)));  // not settled: no choice yet
  CHECK(choose_founder(view(1, {peer(2), peer(3)}))->name == "n1");
  CHECK(choose_founder(view(3, {peer(2), peer(5)}))->name == "n2");
  CHECK(choose_founder(view(3, {peer(4)}))->name == "n3");  // n1 and n2 gone: this node
}

TEST_CASE("home share: which server /home is mounted from") {
  const std::string m = "proc /proc proc rw 0 0\ntmpfs /home tmpfs rw 0 0\n";
  CHECK(home_server(m).empty());
  CHECK(home_server(m + "10.0.0.1:/home /home nfs4 rw,soft 0 0\n") == "10.0.0.1");
  CHECK(home_server("10.0.0.1:/home /home/x nfs4 rw 0 0\n").empty());
  // A server's /home is its store's bind: the same device on both paths.
  const std::string bound = m + "/dev/drbd0 /run/s ext4 rw 0 0\n10.250.0.1:/ /home nfs4 rw 0 0\n/dev/drbd0 /home ext4 rw 0 0\n";
  CHECK(mount_source(bound, "/home") == "/dev/drbd0");
  CHECK(mount_source(bound, "/run/s") == "/dev/drbd0");
  CHECK(mount_source(m + "10.250.0.1:/ /home nfs4 rw 0 0\n", "/home") == "10.250.0.1:/");
  CHECK(mount_source(m, "/srv").empty());
}

namespace {
struct Node {
  std::string dir;
  HomePaths paths;
  FakeRunner r;
  std::unique_ptr<HomeShare> share;
  explicit Node(const std::string& name) {
    dir = tmp_dir() + "/" + name;
    std::filesystem::create_directories(dir);
    paths.net = dir + "/net", paths.drbd = dir + "/drbd", paths.ram = dir + "/ram", paths.store = dir + "/store";
    paths.state = dir + "/state.json", paths.mounts = dir + "/mounts", paths.proc_drbd = dir + "/drbd.proc";
    paths.dir = "/home", paths.drbd_helper = dir + "/usermode_helper";
    std::ofstream(paths.mounts) << "tmpfs /home tmpfs rw 0 0\n";
    r.mounts = paths.mounts;
    r.out["losetup --find --show"] = "/dev/loop5\n";
    share = std::make_unique<HomeShare>(r, paths, 256);
  }
  void drbd(const std::string& line) { std::ofstream(paths.proc_drbd) << "version: 8.4.11\n 0: " << line << "\n"; }
  bool ran(const std::string& prefix) const {
    return std::any_of(r.calls.begin(), r.calls.end(), [&](const std::string& c) { return c.rfind(prefix, 0) == 0; });
  }
  size_t at(const std::string& prefix) const {
    for (size_t i = 0; i < r.calls.size(); ++i)
      if (r.calls[i].rfind(prefix, 0) == 0) return i;
    return SIZE_MAX;
  }
};
HomePeer with(HomePeer p, HomeAdvert ad) { return p.ad = ad, p; }
}  // namespace

TEST_CASE("home share: a new cluster's node 1 founds a replicated /home, serves it, takes /home's address") {
  Node n("found");
  n.share->observe(view(1, {peer(2)}));
  n.share->step(100);
  CHECK_FALSE(n.ran("drbdadm"));  // the plan must hold 5 s first
  n.share->step(105);
  const std::string conf = "drbdadm -c " + n.paths.drbd + "/drbd.conf";
  REQUIRE(n.ran("losetup --find --show " + n.paths.ram + "/home.img"));
  CHECK(n.at("truncate -s 258M") < n.at("losetup --find"));  // and DRBD's metadata
  CHECK(n.at(conf + " --force create-md home") < n.at(conf + " up home"));
  CHECK(n.at(conf + " up home") < n.at(conf + " primary --force home"));
  CHECK(n.at(conf + " primary --force home") < n.at("mkfs.ext4"));
  CHECK(n.at("mkfs.ext4") < n.at("mount -o noatime /dev/drbd0 " + n.paths.store));
  CHECK(n.at("cp -a /home/. " + n.paths.store + "/home/") < n.at("mount --bind " + n.paths.store + "/home /home"));
  CHECK(read_text(n.paths.drbd + "/drbd.conf").find("disk /dev/loop5;") != std::string::npos);
  CHECK(read_text(n.paths.drbd_helper) == "/bin/true\n");  // DRBD's user-space helper: a no-op
  HomeAdvert a = n.share->advert();
  CHECK(a.term == 1);
  CHECK(a.has(kHomeServer));
  CHECK(a.size_mb == 256);
  n.r.calls.clear(), n.r.net.clear();
  n.share->step(106);  // serving: NFS, the standby, exports to the live members' addresses only
  CHECK(n.ran("systemctl restart nfs-server"));
  CHECK(n.ran(conf + " adjust home"));
  CHECK(read_text(n.paths.drbd + "/drbd.conf").find("floating ipv4 10.251.0.2:7789") != std::string::npos);
  CHECK(n.ran("exportfs -o rw,sync,no_subtree_check,no_root_squash,fsid=0 10.251.0.2:" + n.paths.store + "/home"));
  CHECK(std::find(n.r.net.begin(), n.r.net.end(), "ip address replace 10.250.0.1/32 dev grappe0") != n.r.net.end());
  CHECK(n.share->advert().standby == 2);
  CHECK(n.share->status()["role"] == "server");
  n.drbd("cs:SyncSource ro:Primary/Secondary ds:UpToDate/Inconsistent C r-----\n\t[=>...] sync'ed: 40.0% (1/2)K");
  n.share->step(107);
  CHECK(n.share->status()["sync"] == "resyncing to node 2, 40 %");
  n.drbd("cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----");
  n.share->step(108);
  CHECK(n.share->status()["sync"] == "in sync with node 2");
  // Node 2 dies: no standby left, /home goes on degraded.
  n.r.calls.clear();
  n.share->observe(view(1, {}));
  n.share->step(109);
  CHECK(n.ran("exportfs -u 10.251.0.2:"));
  CHECK(n.ran(conf + " disconnect home"));
  CHECK(n.share->status()["sync"] == "degraded: no standby");
  // With no standby, a hand-over is refused: stopping this node loses /home.
  CHECK(n.share->request_hand_over(true).find("no standby") != std::string::npos);
  // A grapped started again finds its role in the state file while DRBD is up.
  HomeShare again(n.r, n.paths, 256);
  CHECK(again.advert().term == 1);
  CHECK(again.advert().has(kHomeServer));
  std::filesystem::remove_all(tmp_dir());
}

TEST_CASE("home share: the chosen standby holds a copy; the others mount /home's address") {
  Node sb("standby");
  const HomeAdvert server{1, kHomeServer, 2, 384};
  sb.share->observe(view(2, {with(peer(1), server), peer(3)}));
  sb.share->step(100);
  CHECK(sb.ran("truncate -s 386M"));  // the server's size, and DRBD's metadata
  const std::string conf = "drbdadm -c " + sb.paths.drbd + "/drbd.conf";
  CHECK(sb.ran(conf + " up home"));
  CHECK_FALSE(sb.ran(conf + " primary"));
  CHECK(sb.ran("mount -t nfs4 -o soft,timeo=100,retrans=3,nosuid,nodev 10.250.0.1:/ /home"));
  CHECK(read_text(sb.paths.net + "/grappe0.conf").find("AllowedIPs = 10.251.0.1/32, 10.250.0.1/32") != std::string::npos);
  CHECK(sb.share->advert().flags == kHomeStandby);  // not in sync yet
  sb.drbd("cs:Connected ro:Secondary/Primary ds:UpToDate/UpToDate C r-----");
  sb.share->step(101);
  CHECK(sb.share->advert().flags == (kHomeStandby | kHomeInSync));
  // Step after step, /home's address stays routed to the server.
  CHECK(read_text(sb.paths.net + "/grappe0.conf").find("AllowedIPs = 10.251.0.1/32, 10.250.0.1/32") != std::string::npos);
  // The server dies; node 3 is still there (2 of 3): this copy takes over at term 2.
  sb.drbd("cs:WFConnection ro:Secondary/Unknown ds:UpToDate/DUnknown C r-----");
  sb.r.calls.clear();
  std::ofstream(sb.paths.mounts, std::ios::app) << "10.250.0.1:/ /home nfs4 rw 0 0\n";
  sb.share->observe(view(2, {peer(3)}));
  sb.share->step(102);
  REQUIRE(sb.ran(conf + " primary home"));
  CHECK(sb.at(conf + " primary home") < sb.at("mount -o noatime /dev/drbd0"));
  CHECK(sb.at(conf + " disconnect --force home") < sb.at(conf + " primary home"));
  CHECK(sb.at("umount -i -l -c /home") < sb.at("mount --bind"));  // -i -c: no helper, no stat of the dead server's mount
  // NFS listens, /home is exported and its address is here in the same step, before the advert
  // says it serves; the node's own /home (still the dead server's mount) is rebound only then, so
  // that the kernel's lookup of that mount reaches this node's NFS rather than waiting out the dead one.
  CHECK(sb.at("systemctl restart nfs-server") < sb.at("umount -i -l -c /home"));
  const auto in_all = [&](const std::string& prefix) {
    return std::find_if(sb.r.all.begin(), sb.r.all.end(), [&](const std::string& c) { return c.rfind(prefix, 0) == 0; }) -
           sb.r.all.begin();
  };
  CHECK(in_all("ip address replace 10.250.0.1/32 dev grappe0") < in_all("umount -i -l -c /home"));
  // Its own mount's connection to the dead server is aborted first: the lookup reconnects here.
  CHECK(sb.at("ss -K -t -n dst 10.250.0.1 dport = :2049") < sb.at("umount -i -l -c /home"));
  CHECK(sb.at("exportfs -o rw,sync,no_subtree_check,no_root_squash,fsid=0 10.250.0.1:") < sb.at("umount -i -l -c /home"));
  const std::vector<std::string> ev = sb.share->take_events();
  REQUIRE_FALSE(ev.empty());
  CHECK(ev.back().find("/home on this node bound to the store in") != std::string::npos);
  CHECK(sb.ran("exportfs -o rw,sync,no_subtree_check,no_root_squash,fsid=0 10.251.0.3:"));
  CHECK(sb.share->advert().term == 2);
  CHECK(sb.share->advert().has(kHomeServer));
  sb.share->step(103);
  CHECK(sb.ran("systemctl restart nfs-server"));  // a grace period for the clients
  CHECK(read_text(sb.paths.drbd + "/drbd.conf").find("floating ipv4 10.251.0.3:7789") != std::string::npos);
  CHECK(sb.ran("exportfs -o rw,sync,no_subtree_check,no_root_squash,fsid=0 10.251.0.3:"));

  Node cl("client");
  cl.share->observe(view(3, {with(peer(1), server), with(peer(2), {1, kHomeStandby | kHomeInSync, 0, 384})}));
  cl.share->step(100);
  CHECK_FALSE(cl.ran("drbdadm"));
  CHECK(cl.ran("mount -t nfs4 -o soft,timeo=100,retrans=3,nosuid,nodev 10.250.0.1:/ /home"));
  CHECK(cl.share->status()["role"] == "client");
  // The server is gone: the client waits for the standby, whose peer entry then gets /home's address.
  cl.share->observe(view(3, {with(peer(2), {1, kHomeStandby | kHomeInSync, 0, 384})}));
  cl.share->step(101);
  CHECK(cl.share->status()["state"].get<std::string>().find("node 2 (n2) holds the copy") != std::string::npos);
  // /home's address does not move to node 2 before it serves
  CHECK(read_text(cl.paths.net + "/grappe0.conf").find("10.250.0.1") == std::string::npos);
  cl.share->observe(view(3, {with(peer(2), {2, kHomeServer, 3, 384})}));
  cl.r.calls.clear();
  cl.share->step(102);
  // The client's NFS connections lead to the dead server: aborted, so the kernel reconnects at once
  // (to the new server, which now has the address) instead of at its next backed-off retransmission.
  CHECK(cl.ran("ss -K -t -n dst 10.250.0.1 dport = :2049"));
  cl.r.calls.clear();
  cl.share->step(103);
  CHECK_FALSE(cl.ran("ss -K"));  // once per move
  CHECK(read_text(cl.paths.net + "/grappe0.conf").find("AllowedIPs = 10.251.0.2/32, 10.250.0.1/32") != std::string::npos);
  std::filesystem::remove_all(tmp_dir());
}

TEST_CASE("home share: a standby waits a minute for a server that left cleanly (grapped restarting)") {
  Node sb("left");
  sb.share->observe(view(2, {with(peer(1), {1, kHomeServer, 2, 384}), peer(3)}));
  sb.share->step(100);
  sb.drbd("cs:Connected ro:Secondary/Primary ds:UpToDate/UpToDate C r-----");
  sb.share->step(101);
  const std::string conf = "drbdadm -c " + sb.paths.drbd + "/drbd.conf";
  HomeView v = view(2, {peer(3)});
  v.left = {1};
  sb.share->observe(v);
  sb.share->step(102);
  CHECK_FALSE(sb.ran(conf + " primary home"));
  CHECK(sb.share->status()["state"].get<std::string>().find("waits a minute") != std::string::npos);
  sb.share->step(150);
  CHECK_FALSE(sb.ran(conf + " primary home"));
  sb.share->step(163);  // still gone after a minute: it takes over
  CHECK(sb.ran(conf + " primary home"));
  std::filesystem::remove_all(tmp_dir());
}

TEST_CASE("home share: a promoted copy never binds over a dead server's mount that stayed; it retries") {
  Node sb("stuck");
  sb.share->observe(view(2, {with(peer(1), {1, kHomeServer, 2, 384}), peer(3)}));
  sb.share->step(100);
  sb.drbd("cs:Connected ro:Secondary/Primary ds:UpToDate/UpToDate C r-----");
  sb.share->step(101);
  std::ofstream(sb.paths.mounts, std::ios::app) << "10.250.0.1:/ /home nfs4 rw 0 0\n";
  sb.drbd("cs:WFConnection ro:Secondary/Unknown ds:UpToDate/DUnknown C r-----");
  sb.r.fail["umount"] = 32;
  sb.r.calls.clear();
  sb.share->observe(view(2, {peer(3)}));
  sb.share->step(102);
  // It serves the members all the same; its own /home stays as it is, not bound over.
  CHECK(sb.share->advert().has(kHomeServer));
  CHECK(sb.ran("systemctl restart nfs-server"));
  CHECK_FALSE(sb.ran("mount --bind"));
  const std::vector<std::string> ev = sb.share->take_events();
  REQUIRE_FALSE(ev.empty());
  CHECK(ev.back().find("cannot unmount the NFS mount of 10.250.0.1 from /home") != std::string::npos);
  // 5 s later, the mount going at last, the store is bound.
  sb.r.fail.clear();
  sb.share->step(104);
  CHECK_FALSE(sb.ran("mount --bind"));
  sb.share->step(107.5);
  CHECK(sb.ran("mount --bind " + sb.paths.store + "/home /home"));
  std::filesystem::remove_all(tmp_dir());
}

TEST_CASE("home share: a damaged state file is ignored, never thrown on") {
  Node n("damaged");
  n.drbd("cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----");
  for (const char* text : {R"({"role":"server","term":"one","server":[1],"disk":7,"size_mb":-3})", "{", "[1,2]", "\x01\xff",
                           R"({"role":5})"}) {
    std::ofstream(n.paths.state) << text;
    HomeShare again(n.r, n.paths, 256);
    const HomeAdvert a = again.advert();
    CHECK((a.term == 0 || a.has(kHomeServer)));  // a role string with bad numbers: term 0
    CHECK(a.size_mb == 0);
  }
  std::filesystem::remove_all(tmp_dir());
}

TEST_CASE("home share: a mount that fails is retried every 5 s and says why") {
  Node m("retry");
  m.r.fail["mount"] = 32;
  m.share->observe(view(3, {with(peer(1), {1, kHomeServer, 2, 256}), peer(2)}));
  m.share->step(100);
  CHECK(m.share->status()["error"].get<std::string>().find("Connection refused") != std::string::npos);
  const size_t calls = m.r.calls.size();
  m.share->step(102);
  CHECK(m.r.calls.size() == calls);
  m.r.fail.clear();
  m.share->step(106);
  CHECK(m.r.calls.size() == calls + 1);
  std::filesystem::remove_all(tmp_dir());
}

TEST_CASE("members' network: keys derived from the cluster secret, one pair per node") {
  const std::vector<uint8_t> secret(32, 7), other(32, 8), id1(16, 1), id2(16, 2);
  OverlayKeys a = overlay_keys(secret, id1), b = overlay_keys(secret, id2);
  CHECK(a.priv.size() == 44);  // 32 bytes in base64, as wg(8) reads them
  CHECK(a.pub.size() == 44);
  CHECK(a.pub != b.pub);
  CHECK(a.priv != a.pub);
  CHECK(overlay_keys(secret, id1).pub == a.pub);     // every member computes the same
  CHECK(overlay_keys(other, id1).pub != a.pub);      // without the secret, another key
  CHECK(ip4_text(overlay_ip(1)) == "10.251.0.1");
  CHECK(ip4_text(overlay_ip(258)) == "10.251.1.2");
}

TEST_CASE("members' network: each member allowed its own address only") {
  const std::string c = overlay_conf("PRIV", {{"PUB2", ip(2), 2}, {"PUB7", ip(9), 7}});
  CHECK(c.find("[Interface]\nPrivateKey = PRIV\nListenPort = 7424\n") == 0);
  CHECK(c.find("[Peer]\nPublicKey = PUB2\nAllowedIPs = 10.251.0.2/32\nEndpoint = 10.0.0.2:7424\n") != std::string::npos);
  CHECK(c.find("[Peer]\nPublicKey = PUB7\nAllowedIPs = 10.251.0.7/32\nEndpoint = 10.0.0.9:7424\n") != std::string::npos);
}

TEST_CASE("members' network: created once, synced on change, the key file root's alone") {
  const std::string dir = tmp_dir() + "/net";
  FakeRunner r;
  r.fail["ip link show"] = 1;  // no interface yet
  Overlay net(r, dir);
  CHECK(net.sync("PRIV", 3, {{"PUB1", ip(1), 1}}) == "");
  REQUIRE(r.net.size() == 9);
  CHECK(r.net[0] == "ip link show dev grappe0");
  CHECK(r.net[1] == "ip link add dev grappe0 type wireguard");
  CHECK(r.net[2] == "wg syncconf grappe0 " + dir + "/grappe0.conf");
  CHECK(r.net[3] == "ip -4 -o address show dev grappe0");
  CHECK(r.net[4] == "ip address flush dev grappe0");
  CHECK(r.net[5] == "ip address add 10.251.0.3/16 dev grappe0");
  CHECK(r.net[6] == "ip link set dev grappe0 up");
  CHECK(r.net[7] == "ip route replace 10.250.0.1/32 dev grappe0");  // /home's address, into the network
  CHECK(r.net[8] == "ip address del 10.250.0.1/32 dev grappe0");    // not served here
  CHECK((std::filesystem::status(dir).permissions() & std::filesystem::perms::all) == std::filesystem::perms::owner_all);
  CHECK((std::filesystem::status(dir + "/grappe0.conf").permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  r.net.clear();
  CHECK(net.sync("PRIV", 3, {{"PUB1", ip(1), 1}}) == "");
  CHECK(r.net.empty());  // nothing changed: nothing run
  CHECK(net.sync("PRIV", 3, {{"PUB1", ip(1), 1}, {"PUB2", ip(2), 2}}) == "");
  REQUIRE(r.net.size() == 1);
  CHECK(r.net[0] == "wg syncconf grappe0 " + dir + "/grappe0.conf");
  CHECK(read_text(dir + "/grappe0.conf").find("PUB2") != std::string::npos);

  FakeRunner r2;  // no WireGuard in the kernel: a clear error, retried at the next call
  r2.fail["ip link"] = 2;
  Overlay net2(r2, dir + "2");
  std::string why = net2.sync("PRIV", 1, {});
  CHECK(why.find("CONFIG_WIREGUARD") != std::string::npos);
  CHECK(why.find("ip link add dev grappe0 type wireguard") != std::string::npos);
  r2.fail.clear();
  CHECK(net2.sync("PRIV", 1, {}) == "");
  std::filesystem::remove_all(tmp_dir());
}

TEST_CASE("members' network: a restarted grapped keeps the address it finds, refuses the broadcast number") {
  const std::string dir = tmp_dir() + "/net3";
  FakeRunner r;  // the interface and its address outlived grapped: NFS on it must not blink
  r.out["ip -4 -o address show"] = "7: grappe0    inet 10.251.1.4/16 scope global grappe0\\       valid_lft forever\n";
  Overlay net(r, dir);
  CHECK(net.sync("PRIV", 260, {}) == "");
  for (const auto& c : r.net) CHECK(c.find("ip address flush") != 0);
  for (const auto& c : r.net) CHECK(c.find("ip address add") != 0);
  CHECK(std::find(r.net.begin(), r.net.end(), "ip link set dev grappe0 up") != r.net.end());
  r.net.clear();  // a second, stale address: flushed and set again
  r.out["ip -4 -o address show"] += "7: grappe0    inet 10.251.0.9/16 scope global grappe0\n";
  Overlay again(r, dir);
  CHECK(again.sync("PRIV", 260, {}) == "");
  CHECK(std::find(r.net.begin(), r.net.end(), "ip address flush dev grappe0") != r.net.end());
  Overlay bcast(r, dir);
  CHECK(bcast.sync("PRIV", 0xffff, {}).find("no address on the members' network") != std::string::npos);
  std::filesystem::remove_all(tmp_dir());
}

TEST_CASE("home share: nothing exported or mounted while the members' network is down") {
  const std::string mounts = "/tmp/grappe-test-mounts2-" + std::to_string(::getpid());
  std::ofstream(mounts) << "tmpfs /home tmpfs rw 0 0\n";
  FakeRunner r;
  r.fail["ip link"] = 2;
  r.fail["wg"] = 1;
  HomePaths paths;
  paths.drbd_helper = tmp_dir() + "/c.helper";
  paths.net = tmp_dir() + "/c", paths.mounts = mounts, paths.state = tmp_dir() + "/c.json", paths.proc_drbd = tmp_dir() + "/none";
  HomeShare member(r, paths);
  member.observe(view(2, {peer(1)}));
  member.step(100);
  CHECK(r.calls.empty());
  CHECK(member.status()["state"] == "starting the members' network");
  CHECK(member.status()["error"].get<std::string>().find("WireGuard") != std::string::npos);
  std::filesystem::remove(mounts);
  std::filesystem::remove_all(tmp_dir());
}

TEST_CASE("home share: a hand-over gives /home to the in-sync standby; refused while a local process holds /home") {
  Node n("handover");
  n.paths.proc = n.dir + "/proc";
  // A fake /proc: process 4242 has its cwd in /home.
  std::filesystem::create_directories(n.paths.proc + "/4242/fd");
  std::filesystem::create_directory_symlink("/home/alice", n.paths.proc + "/4242/cwd");
  n.share = std::make_unique<HomeShare>(n.r, n.paths, 256);
  n.share->observe(view(1, {peer(2)}));
  n.share->step(100);
  n.share->step(105);  // founded
  n.share->step(106);  // serving, standby 2
  n.drbd("cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----");
  n.share->observe(view(1, {with(peer(2), {1, kHomeStandby | kHomeInSync, 0, 256})}));
  n.share->step(107);
  REQUIRE(n.share->status()["sync"] == "in sync with node 2");
  const std::string conf = "drbdadm -c " + n.paths.drbd + "/drbd.conf";
  CHECK(holders_of(n.paths.proc, "/home") == std::vector<int>{4242});
  CHECK(holders_of(n.paths.proc, "/srv").empty());
  REQUIRE(n.share->request_hand_over(false) == "");
  n.r.calls.clear();
  n.share->step(108);
  CHECK_FALSE(n.ran(conf + " secondary"));  // pid 4242 would lose its files
  CHECK(n.share->status()["hand_over"].get<std::string>().find("pids 4242") != std::string::npos);
  CHECK(n.share->advert().has(kHomeServer));
  // Without the holder: unexported, NFS stopped, unmounted (flushed), Secondary, in that order.
  std::filesystem::remove_all(n.paths.proc + "/4242");
  REQUIRE(n.share->request_hand_over(false) == "");
  n.r.calls.clear();
  n.share->step(109);
  REQUIRE(n.ran(conf + " secondary home"));
  CHECK(n.at("rpc.nfsd 0") < n.at("exportfs -u"));  // no "permission denied" for a client meanwhile
  CHECK(n.at("exportfs -u") < n.at("umount /home"));
  CHECK(n.at("umount " + n.paths.store) < n.at(conf + " secondary home"));
  CHECK_FALSE(n.share->advert().has(kHomeServer));
  CHECK(n.share->request_hand_over(false) == HomeShare::kNotServing);
  // Node 2 took over and picks this node as its standby: the copy handed over is kept, no resync.
  n.drbd("cs:Connected ro:Secondary/Primary ds:UpToDate/UpToDate C r-----");
  n.r.calls.clear();
  n.share->observe(view(1, {with(peer(2), {2, kHomeServer, 1, 256})}));
  n.share->step(110);
  CHECK_FALSE(n.ran(conf + " --force create-md"));
  CHECK(n.share->advert().has(kHomeStandby));
  CHECK(n.share->advert().term == 2);
  std::filesystem::remove_all(tmp_dir());
}

TEST_CASE("home share: a GRAPPE-HOME disk is found, founds /home from its filesystem, and stands by on it") {
  Node n("disk");
  n.r.out["blkid"] = "/dev/loop1\n/dev/vda\n";  // a loop device of a RAM /home carries the label too
  n.r.out["dumpe2fs -h /dev/vda"] = "Filesystem volume name:   GRAPPE-HOME\nBlock count:              262144\nBlock size:               4096\n";
  n.r.out["debugfs -R cat /.grappe-home /dev/vda"] = "debugfs 1.47.0 (5-Feb-2023)\ngrappe-home term 3\n";
  n.share = std::make_unique<HomeShare>(n.r, n.paths, 256);
  n.share->observe(view(1, {peer(2)}));
  n.share->step(100);
  CHECK(n.share->advert().has(kHomeDisk));  // before it serves: the role follows the storage
  CHECK(n.share->advert().has(kHomeDiskData));
  CHECK(n.share->advert().term == 3);  // the /home it holds
  CHECK(n.share->advert().size_mb == 1024);
  n.share->step(105);
  const std::string conf = "drbdadm -c " + n.paths.drbd + "/drbd.conf";
  REQUIRE(n.ran(conf + " primary --force home"));
  CHECK_FALSE(n.ran("mkfs"));  // the disk's filesystem is /home
  CHECK_FALSE(n.ran("cp -a"));
  CHECK(n.ran("truncate -s 2M " + n.paths.ram + "/meta.img"));
  const std::string c = read_text(n.paths.drbd + "/drbd.conf");
  CHECK(c.find("disk /dev/vda;") != std::string::npos);
  CHECK(c.find("meta-disk /dev/loop5;") != std::string::npos);
  CHECK(c.find("size 1024M;") != std::string::npos);
  CHECK(n.share->advert().has(kHomeServer));
  CHECK(n.share->advert().has(kHomeDisk));
  CHECK(n.share->advert().term == 4);  // above the disk's
  CHECK(n.share->status()["backing"] == "disk GRAPPE-HOME (/dev/vda) on node 1, 1024 MB");
  // Restarted, grapped takes the disk-backed role up again.
  n.drbd("cs:StandAlone ro:Primary/Unknown ds:UpToDate/DUnknown r-----");
  HomeShare again(n.r, n.paths, 256);
  CHECK(again.advert().has(kHomeDisk));
  CHECK(again.status()["backing"] == "disk GRAPPE-HOME (/dev/vda) on node 1, 1024 MB");

  // Another node's disk holds the copy of a RAM-backed server's /home of 512 MB.
  Node sb("disk-standby");
  sb.r.out["blkid"] = "/dev/vda\n";
  sb.r.out["dumpe2fs -h /dev/vda"] = "Block count:              262144\nBlock size:               4096\n";
  sb.share = std::make_unique<HomeShare>(sb.r, sb.paths, 256);
  sb.share->observe(view(2, {with(peer(1), {1, kHomeServer, 2, 512})}));
  sb.share->step(100);
  const std::string sconf = read_text(sb.paths.drbd + "/drbd.conf");
  CHECK(sconf.find("disk /dev/vda;") != std::string::npos);
  CHECK(sconf.find("size 512M;") != std::string::npos);  // the server's size
  CHECK(sb.share->advert().has(kHomeDisk));
  // A disk too small for that /home: the copy goes to RAM, and the disk is not advertised as used.
  Node small("disk-small");
  small.r.out["blkid"] = "/dev/vda\n";
  small.r.out["dumpe2fs -h /dev/vda"] = "Block count:              65536\nBlock size:               4096\n";
  small.share = std::make_unique<HomeShare>(small.r, small.paths, 256);
  small.share->observe(view(2, {with(peer(1), {1, kHomeServer, 2, 512})}));
  small.share->step(100);
  CHECK(read_text(small.paths.drbd + "/drbd.conf").find("disk /dev/loop5;") != std::string::npos);
  CHECK_FALSE(small.share->advert().has(kHomeDisk));
  std::filesystem::remove_all(tmp_dir());
}

TEST_CASE("GRAPPE-HOME disks: blkid's list less loop, DRBD and mounted devices; ext4 sizes") {
  CHECK(pick_home_disk("/dev/loop1\n/dev/drbd0\n/dev/sdb1\n", "") == "/dev/sdb1");
  CHECK(pick_home_disk("/dev/sdb1\n/dev/sdc\n", "/dev/sdb1 /mnt ext4 rw 0 0\n") == "/dev/sdc");
  CHECK(pick_home_disk("", "").empty());
  CHECK(pick_home_disk("garbage\n", "").empty());
  CHECK(ext4_size_mb("Block count:              262144\nBlock size:               4096\n") == 1024);
  CHECK(ext4_size_mb("nonsense") == 0);
  CHECK(drbd_meta_mb(1u << 20) == 34);  // 1 TB: a 32 MB bitmap
  CHECK(home_mark_term("debugfs 1.47.0 (5-Feb-2023)\ngrappe-home term 7\n") == 7);
  CHECK(home_mark_term("debugfs 1.47.0\n/.grappe-home: File not found by ext2_lookup") == 0);
}

TEST_CASE("grappe home init: refuses the boot medium, a mounted or partitioned disk, a bad size") {
  DiskFacts f;
  f.dev = "/dev/vda", f.block = true, f.bytes = 1ull << 30;
  CHECK(home_init_refusal(f, false, 0) == "");
  CHECK(home_init_refusal(f, false, 512) == "");
  CHECK(home_init_refusal(f, false, 4096).find("larger than /dev/vda") != std::string::npos);
  DiskFacts g = f;
  g.boot_medium = true;
  CHECK(home_init_refusal(g, true, 0).find("booted from") != std::string::npos);  // even with --force
  g = f, g.mounted = "/mnt";
  CHECK(home_init_refusal(g, true, 0).find("mounted on /mnt") != std::string::npos);
  g = f, g.partitions = {"vda1", "vda2"};
  CHECK(home_init_refusal(g, false, 0).find("has partitions (vda1, vda2)") != std::string::npos);
  CHECK(home_init_refusal(g, true, 0) == "");
  g = f, g.block = false;
  CHECK(home_init_refusal(g, false, 0).find("not a block device") != std::string::npos);
  g = f, g.held_by = "drbd0";
  CHECK(home_init_refusal(g, false, 0).find("in use by drbd0") != std::string::npos);
  CHECK(home_init_mkfs("/dev/vda", 512).back() == "512M");
  CHECK(std::find(home_init_mkfs("/dev/vda", 0).begin(), home_init_mkfs("/dev/vda", 0).end(), "GRAPPE-HOME") !=
        home_init_mkfs("/dev/vda", 0).end());
}

TEST_CASE("grappe home init: facts of a partition and its disk from a /sys tree") {
  const std::string sys = tmp_dir() + "/sys";
  std::filesystem::create_directories(sys + "/sdb/sdb1");
  std::ofstream(sys + "/sdb/size") << "2097152\n";
  std::ofstream(sys + "/sdb/sdb1/partition") << "1\n";
  std::filesystem::create_directory_symlink(sys + "/sdb/sdb1", sys + "/sdb1");
  // /dev/sdb is not a block device here; the facts are read from the tree all the same.
  DiskFacts f = disk_facts("/dev/sdb", sys, "/dev/sdb1 /media ext4 rw 0 0\n", "/dev/sdb1");
  CHECK(f.bytes == 1ull << 30);
  CHECK(f.partitions == std::vector<std::string>{"sdb1"});
  CHECK(f.mounted == "/media");
  CHECK(f.boot_medium);  // the medium is on one of its partitions
  CHECK_FALSE(disk_facts("/dev/sdc", sys, "", "/dev/sdb1").boot_medium);
  std::filesystem::remove_all(tmp_dir());
}
