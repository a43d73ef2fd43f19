#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/text_file.h"
#include "home/home_share.h"

using namespace grappe;

namespace {
struct FakeRunner : CommandRunner {
  std::vector<std::string> calls, net;  // NFS and mount commands; the members' network's (ip, wg)
  std::map<std::string, int> fail;  // command prefix -> status
  std::map<std::string, std::string> out;  // command prefix -> its output (status 0)
  CommandResult run(const std::vector<std::string>& argv, double) override {
    std::string c;
    for (const auto& a : argv) c += (c.empty() ? "" : " ") + a;
    (argv[0] == "ip" || argv[0] == "wg" ? net : calls).push_back(c);
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
  v.self = {self, "n" + std::to_string(self), 0, ""};
  v.live = std::move(live);
  v.wg_priv = "cHJpdg==";
  return v;
}
HomePeer peer(uint16_t n) { return {n, "n" + std::to_string(n), ip(static_cast<uint8_t>(n)), "pub" + std::to_string(n)}; }
std::string tmp_dir() {
  auto d = std::filesystem::temp_directory_path() / ("grappe-test-net-" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d.string();
}
}  // namespace

TEST_CASE("home share: the founder is the lowest live number") {
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
}

TEST_CASE("home share: the founder exports to each live member only, others mount it") {
  const std::string mounts = "/tmp/grappe-test-mounts-" + std::to_string(::getpid());
  std::ofstream(mounts) << "tmpfs /home tmpfs rw 0 0\n";
  FakeRunner r;
  HomeShare founder(r, tmp_dir() + "/a", mounts);
  HomeView start = view(1, {peer(2), peer(3)});
  founder.observe(start);
  founder.step(100);
  REQUIRE(r.calls.size() == 3);
  CHECK(r.calls[0] == "systemctl start nfs-server");
  CHECK(r.calls[1] == "exportfs -o rw,sync,no_subtree_check,no_root_squash,fsid=0 10.251.0.2:/home");
  CHECK(r.calls[2] == "exportfs -o rw,sync,no_subtree_check,no_root_squash,fsid=0 10.251.0.3:/home");
  CHECK(founder.status()["state"] == "served from here to 2 node(s)");
  r.calls.clear();
  founder.observe(view(1, {peer(3)}));  // node 2 died: its export goes
  founder.step(101);
  REQUIRE(r.calls.size() == 1);
  CHECK(r.calls[0] == "exportfs -u 10.251.0.2:/home");
  r.calls.clear();
  // Two clusters booted apart and merged: a node numbered 1 elsewhere is alive, this one was
  // renumbered 4. It stops serving and mounts the other's /home.
  founder.observe(view(4, {peer(1), peer(3)}));
  founder.step(102);
  REQUIRE(r.calls.size() == 2);
  CHECK(r.calls[0] == "exportfs -u 10.251.0.3:/home");
  CHECK(r.calls[1] == "mount -t nfs4 -o soft,timeo=100,retrans=3,nosuid,nodev 10.251.0.1:/ /home");

  FakeRunner r2;
  r2.fail["mount"] = 32;
  HomeShare member(r2, tmp_dir() + "/b", mounts);
  member.observe(view(3, {peer(1), peer(2)}));
  member.step(100);
  REQUIRE(r2.calls.size() == 1);
  CHECK(r2.calls[0] == "mount -t nfs4 -o soft,timeo=100,retrans=3,nosuid,nodev 10.251.0.1:/ /home");
  auto s = member.status();
  CHECK(s["role"] == "mount");
  CHECK(s["error"].get<std::string>().find("Connection refused") != std::string::npos);
  member.step(102);  // retries every 5 s, not at every step
  CHECK(r2.calls.size() == 1);
  r2.fail.clear();
  member.step(106);
  CHECK(r2.calls.size() == 2);
  std::ofstream(mounts, std::ios::app) << "10.251.0.1:/ /home nfs4 rw 0 0\n";
  member.step(107);
  CHECK(r2.calls.size() == 2);  // mounted: nothing to do
  CHECK(member.status()["state"] == "mounted from node 1 (n1, 10.251.0.1)");
  CHECK_FALSE(member.status().contains("error"));
  std::filesystem::remove(mounts);
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
  REQUIRE(r.net.size() == 7);
  CHECK(r.net[0] == "ip link show dev grappe0");
  CHECK(r.net[1] == "ip link add dev grappe0 type wireguard");
  CHECK(r.net[2] == "wg syncconf grappe0 " + dir + "/grappe0.conf");
  CHECK(r.net[3] == "ip -4 -o address show dev grappe0");
  CHECK(r.net[4] == "ip address flush dev grappe0");
  CHECK(r.net[5] == "ip address add 10.251.0.3/16 dev grappe0");
  CHECK(r.net[6] == "ip link set dev grappe0 up");
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
  for (const auto& c : r.net) CHECK(c.find("ip address") != 0);
  CHECK(r.net.back() == "ip link set dev grappe0 up");
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
  HomeShare member(r, tmp_dir() + "/c", mounts);
  member.observe(view(2, {peer(1)}));
  member.step(100);
  CHECK(r.calls.empty());
  CHECK(member.status()["state"] == "starting the members' network");
  CHECK(member.status()["error"].get<std::string>().find("WireGuard") != std::string::npos);
  std::filesystem::remove(mounts);
  std::filesystem::remove_all(tmp_dir());
}
