#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "home/home_share.h"

using namespace grappe;

namespace {
struct FakeRunner : CommandRunner {
  std::vector<std::string> calls;
  std::map<std::string, int> fail;  // command prefix -> status
  CommandResult run(const std::vector<std::string>& argv, double) override {
    std::string c;
    for (const auto& a : argv) c += (c.empty() ? "" : " ") + a;
    calls.push_back(c);
    for (const auto& [prefix, st] : fail)
      if (c.rfind(prefix, 0) == 0) return {st, "mount.nfs4: Connection refused\nmore"};
    return {0, ""};
  }
};
uint32_t ip(uint8_t last) { return htonl(0x0a000000u | last); }  // 10.0.0.<last>
HomeView view(uint16_t self, std::vector<HomePeer> live, bool settled = true) {
  HomeView v;
  v.settled = settled;
  v.self = {self, "n" + std::to_string(self), 0};
  v.live = std::move(live);
  return v;
}
HomePeer peer(uint16_t n) { return {n, "n" + std::to_string(n), ip(static_cast<uint8_t>(n))}; }
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
  HomeShare founder(r, mounts);
  HomeView start = view(1, {peer(2), peer(3)});
  founder.observe(start);
  founder.step(100);
  REQUIRE(r.calls.size() == 3);
  CHECK(r.calls[0] == "systemctl start nfs-server");
  CHECK(r.calls[1] == "exportfs -o rw,sync,no_subtree_check,no_root_squash,fsid=0 10.0.0.2:/home");
  CHECK(r.calls[2] == "exportfs -o rw,sync,no_subtree_check,no_root_squash,fsid=0 10.0.0.3:/home");
  CHECK(founder.status()["state"] == "served from here to 2 node(s)");
  r.calls.clear();
  founder.observe(view(1, {peer(3)}));  // node 2 died: its export goes
  founder.step(101);
  REQUIRE(r.calls.size() == 1);
  CHECK(r.calls[0] == "exportfs -u 10.0.0.2:/home");
  r.calls.clear();
  // Two clusters booted apart and merged: a node numbered 1 elsewhere is alive, this one was
  // renumbered 4. It stops serving and mounts the other's /home.
  founder.observe(view(4, {peer(1), peer(3)}));
  founder.step(102);
  REQUIRE(r.calls.size() == 2);
  CHECK(r.calls[0] == "exportfs -u 10.0.0.3:/home");
  CHECK(r.calls[1] == "mount -t nfs4 -o soft,timeo=100,retrans=3 10.0.0.1:/ /home");

  FakeRunner r2;
  r2.fail["mount"] = 32;
  HomeShare member(r2, mounts);
  member.observe(view(3, {peer(1), peer(2)}));
  member.step(100);
  REQUIRE(r2.calls.size() == 1);
  CHECK(r2.calls[0] == "mount -t nfs4 -o soft,timeo=100,retrans=3 10.0.0.1:/ /home");
  auto s = member.status();
  CHECK(s["role"] == "mount");
  CHECK(s["error"].get<std::string>().find("Connection refused") != std::string::npos);
  member.step(102);  // retries every 5 s, not at every step
  CHECK(r2.calls.size() == 1);
  r2.fail.clear();
  member.step(106);
  CHECK(r2.calls.size() == 2);
  std::ofstream(mounts, std::ios::app) << "10.0.0.1:/ /home nfs4 rw 0 0\n";
  member.step(107);
  CHECK(r2.calls.size() == 2);  // mounted: nothing to do
  CHECK(member.status()["state"] == "mounted from node 1 (n1, 10.0.0.1)");
  CHECK_FALSE(member.status().contains("error"));
  std::filesystem::remove(mounts);
}
