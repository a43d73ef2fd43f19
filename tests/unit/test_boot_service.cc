// The network-boot service: the DHCP probe's codec (fuzzed) and its loop, the private subnet
// choice, the dnsmasq template, the HTTP side (ranges, many clients at once, generated scripts)
// and the service's start/stop against fake commands and a fake DHCP segment.
#include <doctest/doctest.h>

#include <sodium.h>
#include <arpa/inet.h>
#include <httplib.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "boot/boot_announce.h"
#include "boot_copy.h"
#include "boot/boot_service.h"
#include "boot/boot_admit.h"
#include "boot/boot_keys.h"
#include "common/text_file.h"

using namespace grappe;
namespace fs = std::filesystem;

namespace {

const std::array<uint8_t, 6> kMac = {0x52, 0x54, 0, 0x67, 0x72, 0x01};

// A DHCP reply of `type` for `xid` from 192.168.1.1 offering 192.168.1.77/24.
std::vector<uint8_t> reply(uint32_t xid, uint8_t type, uint32_t server = htonl(0xc0a80101u)) {
  std::vector<uint8_t> b(236, 0);
  b.reserve(300);  // one allocation (also keeps GCC 12's -Warray-bounds false positive away)
  b[0] = 2, b[1] = 1, b[2] = 6;
  for (int k = 0; k < 4; ++k) b[4 + k] = static_cast<uint8_t>(xid >> (24 - 8 * k));
  uint32_t yi = htonl(0xc0a8014du);
  std::memcpy(&b[16], &yi, 4);
  const uint8_t opts[] = {99, 130, 83, 99, 53, 1, type, 0, 1, 4, 255, 255, 255, 0, 54, 4};
  b.insert(b.end(), opts, opts + sizeof opts);
  uint8_t s[4];
  std::memcpy(s, &server, 4);
  b.insert(b.end(), s, s + 4);
  b.push_back(255);
  return b;
}

struct FakeSegment : DhcpSocket {
  std::vector<std::vector<uint8_t>> sent;
  size_t* sent_count = nullptr;  // outlives the socket
  std::deque<std::vector<uint8_t>> answers;  // given out one per recv
  bool answer_each_discover = false;
  uint32_t server = htonl(0xc0a80101u);
  bool send(const std::vector<uint8_t>& p) override {
    sent.push_back(p);
    if (sent_count) ++*sent_count;
    if (answer_each_discover) {
      uint32_t xid = uint32_t{p[4]} << 24 | uint32_t{p[5]} << 16 | uint32_t{p[6]} << 8 | p[7];
      answers.push_back(reply(xid, 2, server));
    }
    return true;
  }
  std::optional<std::vector<uint8_t>> recv(double) override {
    if (answers.empty()) return std::nullopt;
    auto a = answers.front();
    answers.pop_front();
    return a;
  }
};

struct FakeRunner : CommandRunner {
  std::vector<std::string> calls;
  int status = 0;
  CommandResult run(const std::vector<std::string>& argv, double) override {
    std::string c;
    for (const auto& a : argv) c += (c.empty() ? "" : " ") + a;
    calls.push_back(c);
    return {c.rfind("systemctl restart", 0) == 0 ? status : 0, status ? "Job failed" : ""};
  }
  bool saw(const std::string& c) const { return std::find(calls.begin(), calls.end(), c) != calls.end(); }
};

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("grappe-boot-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7919) >> 3);
  return s;
}

// A serving member of the cluster of `invite`: its boot key, and what it gives an admitted PC.
Credentials give_credentials(BootEnv& env, const ClusterSecret& invite) {
  const Credentials creds = credentials_from_invitation(invite);
  env.boot_seed = creds.boot_seed;
  env.member = [creds] {
    Credentials c = creds;
    c.invited = false;
    c.invite = ClusterSecret{};
    return c;
  };
  return creds;
}

}  // namespace

TEST_CASE("dhcp probe: the discover is a broadcast BOOTREQUEST from our MAC") {
  auto d = dhcp_discover(kMac, 0x01020304);
  REQUIRE(d.size() >= 300);
  CHECK(d[0] == 1);
  CHECK(d[4] == 1);
  CHECK(d[7] == 4);
  CHECK(d[10] == 0x80);
  CHECK(std::equal(kMac.begin(), kMac.end(), d.begin() + 28));
  CHECK(d[236] == 99);
  CHECK(d[240] == 53);
  CHECK(d[242] == 1);
}

TEST_CASE("dhcp probe: offers are parsed, everything else is not") {
  auto o = parse_dhcp_offer(reply(7, 2).data(), reply(7, 2).size(), 7);
  REQUIRE(o);
  CHECK(ipv4_text(o->server) == "192.168.1.1");
  CHECK(ipv4_text(o->offered) == "192.168.1.77");
  CHECK(ipv4_text(o->mask) == "255.255.255.0");
  CHECK_FALSE(parse_dhcp_offer(reply(7, 5).data(), reply(7, 5).size(), 7));  // an ACK
  CHECK_FALSE(parse_dhcp_offer(reply(8, 2).data(), reply(8, 2).size(), 7));  // another transaction
  auto r = reply(7, 2);
  for (size_t n = 0; n < 243; ++n) CHECK_FALSE(parse_dhcp_offer(r.data(), n, 7));  // truncated before the type
  for (size_t n : {245u, 248u, 251u}) CHECK_FALSE(parse_dhcp_offer(r.data(), n, 7));  // inside an option
  CHECK_FALSE(parse_dhcp_offer(nullptr, 0, 7));
}

TEST_CASE("dhcp probe: fuzzed replies never crash the parser or read past the packet") {
  std::mt19937 rng(42);
  const auto base = reply(7, 2);
  size_t parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> p = base;
    if (i % 3 == 0) {
      p.resize(rng() % 600);
      for (auto& b : p) b = static_cast<uint8_t>(rng());
    } else {
      for (int k = 0, n = 1 + rng() % 8; k < n; ++k) p[236 + rng() % (p.size() - 236)] = static_cast<uint8_t>(rng());
      p.resize(236 + rng() % (p.size() - 235));
    }
    // A heap copy of exactly the packet's size: a read past it would be caught by sanitizers.
    std::unique_ptr<uint8_t[]> exact(new uint8_t[p.size() + 1]);
    std::copy(p.begin(), p.end(), exact.get());
    parsed += parse_dhcp_offer(exact.get(), p.size(), 7).has_value();
  }
  CHECK(parsed > 0);  // mutations of option bytes leave some offers valid
}

TEST_CASE("dhcp probe: the probe retries, and ignores this node's own server") {
  FakeSegment seg;
  CHECK_FALSE(probe_dhcp(seg, kMac, 9, 3, 0.01));
  CHECK(seg.sent.size() == 3);
  FakeSegment other;
  other.answer_each_discover = true;
  auto o = probe_dhcp(other, kMac, 9, 3, 0.01);
  REQUIRE(o);
  CHECK(other.sent.size() == 1);
  FakeSegment self;
  self.answer_each_discover = true;
  self.server = htonl(0x0a470001u);
  CHECK_FALSE(probe_dhcp(self, kMac, 9, 2, 0.01, {htonl(0x0a470001u)}));
}

TEST_CASE("boot subnet: a private /24 that overlaps nothing in use") {
  auto net = [](const char* a) {
    in_addr x{};
    inet_pton(AF_INET, a, &x);
    return x.s_addr;
  };
  CHECK(ipv4_text(choose_boot_subnet({})) == "10.71.0.0");
  CHECK(ipv4_text(choose_boot_subnet({{net("169.254.0.0"), net("255.255.0.0")}})) == "10.71.0.0");
  CHECK(ipv4_text(choose_boot_subnet({{net("10.71.0.0"), net("255.255.255.0")}, {net("10.72.0.0"), net("255.255.0.0")}})) ==
        "10.73.0.0");
  CHECK(choose_boot_subnet({{net("10.0.0.0"), net("255.0.0.0")}}) == 0);
}

TEST_CASE("dnsmasq template: the real one renders for both modes") {
  const std::string tpl = read_text(std::string(GRAPPE_SOURCE_DIR) + "/iso/dnsmasq-boot.conf.in");
  REQUIRE(!tpl.empty());
  std::map<std::string, std::string> v = {{"IFACE", "ens4"}, {"RANGE", "10.71.0.50,10.71.0.250,255.255.255.0,1h"},
                                          {"TFTP_ROOT", "/run/grappe/medium/pxe"}, {"URL", "http://10.71.0.1/grappe/node.ipxe"},
                                          {"MODE", "full"}, {"SELF_MAC", "52:54:00:67:72:01"}};
  std::string full = render_dnsmasq(tpl, "full", v);
  CHECK(full.find("dhcp-host=52:54:00:67:72:01,ignore\n") != std::string::npos);  // never leases to itself
  CHECK(full.find("dhcp-range=10.71.0.50,10.71.0.250,255.255.255.0,1h\n") != std::string::npos);
  CHECK(full.find("dhcp-boot=tag:ipxe,http://10.71.0.1/grappe/node.ipxe\n") != std::string::npos);
  CHECK(full.find("pxe-service") == std::string::npos);
  CHECK(full.find('@') == std::string::npos);
  CHECK(full.find("\nfull:") == std::string::npos);
  v["MODE"] = "proxy";
  std::string proxy = render_dnsmasq(tpl, "proxy", v);
  CHECK(proxy.find("pxe-service=tag:ipxe,x86PC,\"Grappe\",http://10.71.0.1/grappe/node.ipxe") != std::string::npos);
  CHECK(proxy.find("dhcp-boot") == std::string::npos);
  CHECK_THROWS_WITH(render_dnsmasq("x=@NOPE@\n", "full", v), doctest::Contains("@NOPE@"));
}

TEST_CASE("boot http: whole files, ranges, many clients at once, scripts, 404") {
  fs::path d = temp_dir("http");
  const std::string body = pattern(3 << 20);
  std::ofstream(d / "base.squashfs", std::ios::binary) << body;
  BootHttp http;
  std::string err;
  REQUIRE(http.start("127.0.0.1", 0, {{"base.squashfs", (d / "base.squashfs").string()}},
                     [](const std::string& name, const std::string& mac, const std::string& host) {
                       return name == "node.ipxe" ? "#!ipxe\n# " + mac + " via " + host + "\n" : std::string();
                     },
                     err));
  httplib::Client c("127.0.0.1", http.port());
  auto whole = c.Get("/grappe/base.squashfs");
  REQUIRE(whole);
  CHECK(whole->status == 200);
  CHECK(whole->body == body);
  auto part = c.Get("/grappe/base.squashfs", {{"Range", "bytes=1000000-1999999"}});
  REQUIRE(part);
  CHECK(part->status == 206);
  CHECK(part->body == body.substr(1000000, 1000000));
  auto script = c.Get("/grappe/node.ipxe?mac=52:54:00:67:72:02");
  REQUIRE(script);
  CHECK(script->body.find("52:54:00:67:72:02 via 127.0.0.1:" + std::to_string(http.port())) != std::string::npos);
  CHECK(c.Get("/grappe/missing")->status == 404);
  CHECK(c.Get("/grappe/..%2Fetc%2Fpasswd")->status == 404);
  CHECK(c.Get("/grappe/node.ipxe?mac=;reboot")->status == 404);
  std::atomic<int> good{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 16; ++i)
    clients.emplace_back([&] {
      httplib::Client cc("127.0.0.1", http.port());
      auto r = cc.Get("/grappe/base.squashfs");
      if (r && r->status == 200 && r->body == body) ++good;
    });
  for (auto& t : clients) t.join();
  CHECK(good == 16);
  CHECK(http.stats().bytes >= 17 * body.size());
  http.stop();
  fs::remove_all(d);
}

TEST_CASE("boot service: serves from the founder only, full DHCP or proxy by the probe, stops when told") {
  fs::path run = temp_dir("svc");
  for (const char* f : {"boot/vmlinuz", "boot/initrd.img", "live/base.squashfs", "live/node.squashfs", "live/SHA256SUMS",
                        "pxe/boot.ipxe", "pxe/undionly.kpxe", "pxe/snponly.efi"}) {
    fs::create_directories((run / "medium" / f).parent_path());
    std::ofstream(run / "medium" / f) << f;
  }
  FakeRunner runner;
  size_t discovers = 0;
  bool dhcp_on_segment = false;
  BootEnv env;
  env.run = &runner;
  env.run_dir = run.string();
  env.template_path = std::string(GRAPPE_SOURCE_DIR) + "/iso/dnsmasq-boot.conf.in";
  env.conf_path = (run / "boot/dnsmasq.conf").string();
  env.http_port = 0;
  env.http_bind = "127.0.0.1";
  env.nodes_path = (run / "boot-nodes.toml").string();
  env.cluster = "lab";
  ClusterSecret invite{};
  invite.fill(7);
  const Credentials creds = give_credentials(env, invite);
  env.loopback_is_a_pc = true;
  std::vector<std::pair<std::string, std::string>> announced;  // never a real broadcast in tests
  env.announce = [&](const std::string& ifname, const std::string& packet) {
    announced.emplace_back(ifname, packet);
    return true;
  };
  env.open_probe = [&](const std::string& ifname, std::string&) -> std::unique_ptr<DhcpSocket> {
    CHECK(ifname == "ens4");
    auto s = std::make_unique<FakeSegment>();
    s->answer_each_discover = dhcp_on_segment;
    s->sent_count = &discovers;
    return s;
  };
  BootService svc(env);
  BootView v;
  v.enabled = true;
  v.server = true;
  NetIf nic;
  nic.name = "ens4";
  nic.addr = htonl(0xa9fe0b02u);  // 169.254.11.2/16
  nic.mask = htonl(0xffff0000u);
  nic.mac = {0x52, 0x54, 0x00, 0x67, 0x72, 0x0a};
  v.ifaces = {nic};

  SUBCASE("no DHCP server: full DHCP on a private /24, address added, dnsmasq started") {
    svc.observe(v);
    svc.step(100);
    auto st = svc.status();
    CHECK(st["role"] == "serving");
    CHECK(st["mode"] == "full");
    CHECK(st["error"] == "");
    CHECK(runner.saw("ip addr replace 10.71.0.1/24 dev ens4"));
    CHECK(runner.saw("systemctl restart grappe-boot-dhcp.service"));
    std::string conf = read_text(env.conf_path);
    CHECK(conf.find("dhcp-range=10.71.0.50,10.71.0.250,255.255.255.0,1h") != std::string::npos);
    // TFTP serves a world-readable copy of the loaders (dnsmasq drops root; the medium is root's).
    CHECK(conf.find("tftp-root=" + (run / "boot/tftp").string()) != std::string::npos);
    CHECK(read_text((run / "boot/tftp/undionly.kpxe").string()) == read_text((run / "medium/pxe/undionly.kpxe").string()));
    CHECK((fs::status(run / "boot/tftp/snponly.efi").permissions() & fs::perms::others_read) != fs::perms::none);
    CHECK(conf.find("dhcp-host=52:54:00:67:72:0a,ignore") != std::string::npos);
    CHECK(st["url"].get<std::string>().rfind("http://10.71.0.1:", 0) == 0);
    // The signed announcement, on the cluster interface, names the base URL and SHA256SUMS' hash.
    REQUIRE(announced.size() == 1);
    CHECK(announced[0].first == "ens4");
    BootAnnouncement ann;
    std::string why;
    REQUIRE(decode_boot_announcement(boot_signing_keys(invite).pub, announced[0].second, ann, why));
    CHECK(announced[0].second.find(to_hex(invite)) == std::string::npos);
    CHECK(ann.cluster == "lab");
    CHECK(ann.base + "node.ipxe" == st["url"].get<std::string>());
    unsigned char h[crypto_hash_sha256_BYTES];
    const std::string sums = "live/SHA256SUMS";  // the fixture file's content
    crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(sums.data()), sums.size());
    char hex[sizeof h * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    CHECK(ann.sums_sha256 == hex);
    svc.step(101);  // 1 s later: not yet
    CHECK(announced.size() == 1);
    svc.step(102);  // every 2 s
    CHECK(announced.size() == 2);
    // The HTTP side serves the medium's files.
    int port = std::stoi(st["url"].get<std::string>().substr(17));
    httplib::Client c("127.0.0.1", port);
    auto k = c.Get("/grappe/vmlinuz");
    REQUIRE(k);
    CHECK(k->body == "boot/vmlinuz");
    CHECK(c.Get("/grappe/node.ipxe")->body.find("chain ${grappe-base}boot.ipxe") != std::string::npos);
    // node.ipxe: first asked without the MAC (iPXE cannot put it in the DHCP-given URL)...
    CHECK(c.Get("/grappe/node.ipxe")->body.find("chain ${grappe-base}node.ipxe?mac=${netX/mac:hexhyp}") != std::string::npos);
    // ...then with it: no boot-nodes.toml, zero-config; with one, the PC's settings.
    CHECK(c.Get("/grappe/node.ipxe?mac=52-54-00-67-72-02")->body.find("grappe-extra") == std::string::npos);
    std::ofstream(env.nodes_path) << "[[node]]\nmac = \"52:54:00:67:72:02\"\nhostname = \"render-1\"\njoin = false\n";
    auto one = c.Get("/grappe/node.ipxe?mac=52-54-00-67-72-02")->body;
    CHECK(one.find("set grappe-extra grappe.hostname=render-1 grappe.join=0\nchain ${grappe-base}boot.ipxe") != std::string::npos);
    CHECK(c.Get("/grappe/node.ipxe?mac=52-54-00-67-72-03")->body.find("grappe-extra") == std::string::npos);
    std::ofstream(env.nodes_path) << "[[node]]\nmac = \"nope\"\n";  // broken: boots with defaults, says why
    auto broken = c.Get("/grappe/node.ipxe?mac=52-54-00-67-72-02")->body;
    CHECK(broken.find("has an error; booting with default settings") != std::string::npos);
    CHECK(broken.find("chain ${grappe-base}boot.ipxe") != std::string::npos);
    CHECK(svc.status()["nodes_error"].get<std::string>().find("line 2: mac 'nope'") != std::string::npos);
    fs::remove(env.nodes_path);
    // Every file a network-booted node keeps a copy of (grappe-init's list) is served over HTTP.
    for (const auto& [name, rel] : init::mirrored_boot_files()) {
      auto f = c.Get("/grappe/" + name);
      REQUIRE_MESSAGE(f, name);
      CHECK_MESSAGE(f->status == 200, name);
      CHECK(f->body == rel);
    }
    // Admission (policy auto): the cluster key, sealed to the PC's one-time key, signed by the cluster.
    BoxPublic pc_pub{};
    BoxSecret pc_sec{};
    crypto_box_keypair(pc_pub.data(), pc_sec.data());
    auto adm = c.Get("/grappe/admit?mac=52-54-00-67-72-05&pk=" + to_hex(pc_pub));
    REQUIRE(adm);
    CHECK(adm->status == 200);
    CHECK(adm->body.find(to_hex(invite)) == std::string::npos);
    Credentials got_key;
    REQUIRE_MESSAGE(open_admission(boot_signing_keys(invite).pub, pc_pub, pc_sec, "52:54:00:67:72:05", adm->body, got_key, why), why);
    CHECK(got_key.op == creds.op);
    CHECK_FALSE(got_key.invited);
    CHECK(svc.status()["admission"]["admitted"] == 1);
    CHECK(svc.status()["admission"]["last"].get<std::string>().find("admitted 52:54:00:67:72:05 (127.0.0.1, key " + to_hex(pc_pub).substr(0, 12) + ") by") == 0);
    CHECK(c.Get("/grappe/admit?mac=52-54-00-67-72-05&pk=1234")->status == 400);
    CHECK(c.Get("/grappe/admit?mac=nope&pk=" + to_hex(pc_pub))->status == 400);
    CHECK(c.Get("/grappe/admit")->status == 400);
    // Another node becomes the founder: this one stops and gives the address back.
    v.server = false;
    v.founder = "node 1 (n1)";
    svc.observe(v);
    svc.step(101);
    CHECK(svc.status()["role"] == "standby");
    CHECK(runner.saw("systemctl stop grappe-boot-dhcp.service"));
    CHECK(runner.saw("ip addr del 10.71.0.1/24 dev ens4"));
    CHECK_FALSE(c.Get("/grappe/vmlinuz"));
  }
  SUBCASE("a DHCP server answers: proxy-DHCP only, no address added") {
    dhcp_on_segment = true;
    svc.observe(v);
    svc.step(100);
    auto st = svc.status();
    CHECK(st["mode"] == "proxy");
    CHECK(st["why"].get<std::string>().find("192.168.1.1") != std::string::npos);
    CHECK(read_text(env.conf_path).find("dhcp-range=169.254.0.0,proxy") != std::string::npos);
    for (const auto& c : runner.calls) CHECK(c.rfind("ip addr", 0) != 0);
    CHECK(discovers == 1);
    // networkd then takes a lease from that server: the service starts again on the new address.
    v.ifaces[0].addr = htonl(0xc0a84d41u);  // 192.168.77.65/24
    v.ifaces[0].mask = htonl(0xffffff00u);
    svc.observe(v);
    svc.step(104);  // between checks: unchanged
    CHECK(svc.status()["url"].get<std::string>().rfind("http://169.254.11.2:", 0) == 0);
    svc.step(105);
    CHECK(svc.status()["role"] == "starting");
    CHECK(svc.status()["error"].get<std::string>().find("address changed from 169.254.11.2 to 192.168.77.65") != std::string::npos);
    CHECK(runner.saw("systemctl stop grappe-boot-dhcp.service"));
    svc.step(106);
    st = svc.status();
    CHECK(st["role"] == "serving");
    CHECK(st["mode"] == "proxy");
    CHECK(st["error"] == "");
    CHECK(st["url"].get<std::string>().rfind("http://192.168.77.65:", 0) == 0);
    CHECK(read_text(env.conf_path).find("dhcp-range=192.168.77.0,proxy") != std::string::npos);
    CHECK(discovers == 2);
  }
  SUBCASE("dnsmasq fails: nothing half-started, retried later, the error shown") {
    runner.status = 1;
    svc.observe(v);
    svc.step(100);
    auto st = svc.status();
    CHECK(st["role"] == "starting");
    CHECK(st["error"].get<std::string>().find("cannot start dnsmasq") != std::string::npos);
    CHECK(runner.saw("ip addr del 10.71.0.1/24 dev ens4"));
    size_t calls = runner.calls.size();
    svc.step(105);  // before the retry time: nothing
    CHECK(runner.calls.size() == calls);
  }
  SUBCASE("a node booted from the network has no kernel to serve: it says so") {
    fs::remove_all(run / "medium");
    fs::create_directories(run / "fetched");
    std::ofstream(run / "boot-copy-failed") << "cannot fetch http://s/vmlinuz: HTTP 404\n";
    svc.observe(v);
    svc.step(100);
    const std::string e = svc.status()["error"];
    CHECK(e.find("booted from the network") != std::string::npos);
    CHECK(e.find(": cannot fetch http://s/vmlinuz: HTTP 404") != std::string::npos);  // grappe-init's reason
    CHECK(runner.calls.empty());
  }
  SUBCASE("a medium without the iPXE loaders cannot serve plain PXE firmware") {
    fs::remove(run / "medium/pxe/snponly.efi");
    svc.observe(v);
    svc.step(100);
    CHECK(svc.status()["error"].get<std::string>().find("lacks " + (run / "medium/pxe/snponly.efi").string()) != std::string::npos);
    CHECK(runner.calls.empty());
  }
  SUBCASE("disabled for the cluster: off, nothing runs") {
    v.enabled = false;
    svc.observe(v);
    svc.step(100);
    CHECK(svc.status()["role"] == "off");
    CHECK(runner.calls.empty());
  }
  fs::remove_all(run);
}

TEST_CASE("boot service: admission policies ask and listed, over HTTP") {
  fs::path run = temp_dir("adm");
  for (const char* f : {"boot/vmlinuz", "boot/initrd.img", "live/base.squashfs", "live/node.squashfs", "live/SHA256SUMS",
                        "pxe/boot.ipxe", "pxe/undionly.kpxe", "pxe/snponly.efi"}) {
    fs::create_directories((run / "medium" / f).parent_path());
    std::ofstream(run / "medium" / f) << f;
  }
  FakeRunner runner;
  BootEnv env;
  env.run = &runner;
  env.run_dir = run.string();
  env.template_path = std::string(GRAPPE_SOURCE_DIR) + "/iso/dnsmasq-boot.conf.in";
  env.conf_path = (run / "boot/dnsmasq.conf").string();
  env.http_port = 0;
  env.http_bind = "127.0.0.1";
  env.nodes_path = (run / "boot-nodes.toml").string();
  ClusterSecret invite{};
  invite.fill(9);
  const Credentials creds = give_credentials(env, invite);
  env.self_name = "node1";
  env.loopback_is_a_pc = true;
  std::vector<std::string> said;
  env.say = [&](const std::string& line) { said.push_back(line); };
  env.announce = [](const std::string&, const std::string&) { return true; };
  env.open_probe = [](const std::string&, std::string&) -> std::unique_ptr<DhcpSocket> { return std::make_unique<FakeSegment>(); };
  BootView v;
  v.enabled = v.server = true;
  NetIf nic;
  nic.name = "ens4";
  nic.addr = htonl(0x0a470001u);
  nic.mask = htonl(0xffffff00u);
  v.ifaces = {nic};
  BoxPublic pc{};
  BoxSecret pc_sec{};
  crypto_box_keypair(pc.data(), pc_sec.data());
  const auto pub = boot_signing_keys(invite).pub;
  auto ask = [&](BootService& svc, const char* mac) {
    const int port = std::stoi(svc.status()["url"].get<std::string>().substr(17));
    httplib::Client c("127.0.0.1", port);
    return c.Get(std::string("/grappe/admit?mac=") + mac + "&pk=" + to_hex(pc));
  };
  SUBCASE("a PC root forgot (grappe node forget) is refused under any policy, naming how to let it in") {
    env.admit_policy = AdmitPolicy::Auto;
    env.forgotten = [](const std::string& mac) { return mac == "52:54:00:00:00:01"; };
    BootService svc(env);
    svc.observe(v);
    svc.step(100);
    REQUIRE(svc.status()["role"] == "serving");
    auto r = ask(svc, "52-54-00-00-00-01");
    REQUIRE(r);
    CHECK(r->status == 403);
    CHECK(r->body.find("grappe node unforget 52:54:00:00:00:01") != std::string::npos);
    auto ok = ask(svc, "52-54-00-00-00-02");
    REQUIRE(ok);
    CHECK(ok->status == 200);
  }
  SUBCASE("ask: pending until root answers; admit opens, deny refuses") {
    env.admit_policy = AdmitPolicy::Ask;
    BootService svc(env);
    CHECK(svc.answer("52:54:00:00:00:01", true).find("does not serve network boot") != std::string::npos);
    svc.observe(v);
    svc.step(100);
    REQUIRE(svc.status()["role"] == "serving");
    auto r = ask(svc, "52-54-00-00-00-01");
    REQUIRE(r);
    CHECK(r->status == 202);
    CHECK(r->body.find("grappe admit 52:54:00:00:00:01") != std::string::npos);
    CHECK(ask(svc, "52-54-00-00-00-01")->status == 202);  // asking again: still one pending entry, said once
    auto st = svc.status()["admission"];
    REQUIRE(st["pending"].size() == 1);
    CHECK(st["pending"][0]["mac"] == "52:54:00:00:00:01");
    CHECK(std::count_if(said.begin(), said.end(), [](const std::string& l) { return l.find("asks to join") != std::string::npos; }) == 1);
    CHECK(svc.answer("not-a-mac", true).find("not a MAC address") != std::string::npos);
    CHECK(svc.answer("52:54:00:00:00:01", true) == "");
    r = ask(svc, "52:54:00:00:00:01");
    REQUIRE(r);
    CHECK(r->status == 200);
    Credentials got;
    std::string why;
    CHECK(open_admission(pub, pc, pc_sec, "52:54:00:00:00:01", r->body, got, why));
    CHECK(got.op == creds.op);
    CHECK(svc.status()["admission"]["pending"].empty());
    CHECK(said.back().find("admitted 52:54:00:00:00:01 (127.0.0.1, key " + to_hex(pc).substr(0, 12) + ") by node1: policy ask: admitted by root") != std::string::npos);
    // Root's answer was for that key, used once: the same MAC with another key asks anew.
    BoxPublic other{};
    BoxSecret other_sec{};
    crypto_box_keypair(other.data(), other_sec.data());
    {
      const int port = std::stoi(svc.status()["url"].get<std::string>().substr(17));
      httplib::Client c("127.0.0.1", port);
      CHECK(c.Get("/grappe/admit?mac=52:54:00:00:00:01&pk=" + to_hex(other))->status == 202);
    }
    CHECK(ask(svc, "52:54:00:00:00:01")->status == 202);  // and the first key too: its answer is spent
    CHECK(svc.answer("52:54:00:00:00:09", true).find("no PC with MAC 52:54:00:00:00:09 is waiting") != std::string::npos);
    CHECK(ask(svc, "52:54:00:00:00:02")->status == 202);
    CHECK(svc.answer("52-54-00-00-00-02", false) == "");
    CHECK(ask(svc, "52:54:00:00:00:02")->status == 403);
    CHECK(svc.status()["admission"]["refused"] == 1);
  }
  SUBCASE("the cluster's policy (grappe boot-server admission) overrides this node's grapped.toml") {
    env.admit_policy = AdmitPolicy::Auto;
    BootService svc(env);
    BootView cv = v;
    REQUIRE(next_policy_setting(0, AdmitPolicy::Ask, cv.admission_setting));
    svc.observe(cv);
    svc.step(100);
    REQUIRE(svc.status()["role"] == "serving");
    CHECK(ask(svc, "52:54:00:00:00:07")->status == 202);  // pending, not admitted as auto would
    CHECK(svc.status()["admission"]["policy"] == "ask");
    CHECK(svc.status()["admission_policy"]["from"].get<std::string>().find("cluster") == 0);
    cv.admission_setting = 0x8;  // malformed (no policy code): this node's own default again
    svc.observe(cv);
    CHECK(ask(svc, "52:54:00:00:00:07")->status == 200);
    CHECK(svc.status()["admission_policy"]["from"].get<std::string>().find("grapped.toml") != std::string::npos);
  }
  SUBCASE("listed: only a joining rule's MAC; no list, no one") {
    env.admit_policy = AdmitPolicy::Listed;
    BootService svc(env);
    svc.observe(v);
    svc.step(100);
    REQUIRE(svc.status()["role"] == "serving");
    CHECK(ask(svc, "52:54:00:00:00:03")->status == 403);
    CHECK(said.back().find("refused 52:54:00:00:00:03") != std::string::npos);
    CHECK(said.back().find("does not exist") != std::string::npos);
    std::ofstream(env.nodes_path) << "[[node]]\nmac = \"52:54:00:00:00:0*\"\n";
    auto r = ask(svc, "52:54:00:00:00:03");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(ask(svc, "52:54:00:00:01:03")->status == 403);
  }
  SUBCASE("every policy: a rule's join = false is never admitted; members and other segments never") {
    env.admit_policy = AdmitPolicy::Auto;
    std::ofstream(env.nodes_path) << "[[node]]\nmac = \"52:54:00:00:00:04\"\njoin = false\n";
    BootService svc(env);
    svc.observe(v);
    svc.step(100);
    REQUIRE(svc.status()["role"] == "serving");
    auto r = ask(svc, "52:54:00:00:00:04");
    REQUIRE(r);
    CHECK(r->status == 403);
    CHECK(r->body.find("join = false") != std::string::npos);
    CHECK(ask(svc, "52:54:00:00:00:05")->status == 200);
    BootEnv strict = env;  // a real service: loopback is this node, not a PC
    strict.loopback_is_a_pc = false;
    BootService svc2(strict);
    svc2.observe(v);
    svc2.step(100);
    REQUIRE(svc2.status()["role"] == "serving");
    r = ask(svc2, "52:54:00:00:00:05");
    REQUIRE(r);
    CHECK(r->status == 403);
    CHECK(r->body.find("member already") != std::string::npos);
  }
  fs::remove_all(run);
}
