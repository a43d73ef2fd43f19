#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "console.h"
#include "error.h"
#include "qemu.h"

using namespace grappe::build;

namespace {
bool has(const std::vector<std::string>& v, const std::string& needle) {
  return std::any_of(v.begin(), v.end(), [&](const std::string& s) { return s.find(needle) != std::string::npos; });
}
}  // namespace

TEST_CASE("every VM gets its own MAC") {
  CHECK(node_mac(1) == "52:54:00:67:72:01");
  CHECK(node_mac(2) != node_mac(1));
  CHECK(node_mac(1, true) != node_mac(1));
}

TEST_CASE("the cluster segment always stays on loopback") {
  QemuOptions o;
  o.port = 23456;
  for (const char* boot : {"cd", "uefi", "usb", "pxe", "net", "uefi-net", "cd,net"}) {
    o.boot = boot;
    auto a = qemu_command(o, 1, "tcg", "vars.fd", 8080);
    CHECK(has(a, "mcast=230.0.0.1:23456,localaddr=127.0.0.1"));
    CHECK(has(a, "mac=52:54:00:67:72:01"));
  }
}

TEST_CASE("boot modes pick the right firmware and devices") {
  QemuOptions o;
  o.port = 1;
  o.boot = "uefi";
  auto u = qemu_command(o, 1, "tcg", "v.fd", 0);
  CHECK(has(u, "if=pflash"));
  CHECK(has(u, "media=cdrom"));
  o.boot = "usb";
  auto s = qemu_command(o, 1, "tcg", "v.fd", 0);
  CHECK(has(s, "usb-storage"));
  CHECK_FALSE(has(s, "if=pflash"));
  o.boot = "pxe";
  auto p = qemu_command(o, 2, "kvm", "v.fd", 8080);
  CHECK(has(p, "bootfile=grappe.ipxe"));
  CHECK(has(p, "restrict=on"));
  CHECK(has(p, "nc 127.0.0.1 8080"));
  CHECK(has(p, "kvm"));
}

TEST_CASE("a comma list gives each node its boot kind; net nodes boot from the cluster NIC") {
  CHECK(node_boot("cd", 1) == "cd");
  CHECK(node_boot("cd", 5) == "cd");
  CHECK(node_boot("cd,net", 1) == "cd");
  CHECK(node_boot("cd,net", 2) == "net");
  CHECK(node_boot("cd,net,uefi-net", 3) == "uefi-net");
  CHECK(node_boot("cd,net,uefi-net", 9) == "uefi-net");
  QemuOptions o;
  o.port = 1;
  o.boot = "cd,net";
  auto first = qemu_command(o, 1, "tcg", "v.fd", 0);
  CHECK(has(first, "media=cdrom"));
  CHECK(has(first, ",romfile="));  // a CD node's cluster NIC never tries to boot
  auto second = qemu_command(o, 2, "tcg", "v.fd", 0);
  CHECK_FALSE(has(second, "media=cdrom"));
  CHECK_FALSE(has(second, "romfile"));
  CHECK(has(second, "netdev=cluster,mac=52:54:00:67:72:02,bootindex=0"));
  CHECK(has(second, "reboot-timeout"));  // retries until a node serves
  CHECK_FALSE(has(second, "if=pflash"));
  o.boot = "cd,uefi-net";
  auto uefi = qemu_command(o, 2, "tcg", "v.fd", 0);
  CHECK(has(uefi, "if=pflash"));
  CHECK(has(uefi, "mac=52:54:00:67:72:02,romfile=,bootindex=0"));  // OVMF's own PXE client, not iPXE's ROM
  o.boot = "cd,kernel";
  auto k = qemu_command(o, 2, "tcg", "v.fd", 0);
  CHECK(has(k, "pxe/vmlinuz"));
  CHECK(has(k, "pxe/initrd.img"));
  CHECK_FALSE(has(k, "grappe.fetch"));  // nothing but the kernel and initrd: grappe-init discovers
  CHECK_FALSE(has(k, "media=cdrom"));
}

TEST_CASE("console: markers are found in console noise, never in the typed text") {
  const std::string script = console_script("grappe nodes", "42");
  CHECK(script.find("@@B42@@") == std::string::npos);  // echoed input cannot look like output
  CHECK(script.find("@@E42@@") == std::string::npos);
  std::string out;
  int st = -1;
  // The echo of the typed line, kernel noise, then the real markers.
  std::string seen = script + "[  12.3] random: crng init done\r\n@@B42@@\r\nline 1\r\nline 2\n@@E42@@ 3";
  CHECK_FALSE(console_parse(seen, "42", out, st));  // the status line is not complete yet
  seen += "\n# ";
  REQUIRE(console_parse(seen, "42", out, st));
  CHECK(st == 3);
  CHECK(out == "line 1\nline 2");
  CHECK_FALSE(console_parse(seen, "43", out, st));  // another command's token
}

TEST_CASE("console: a kernel panic is reported once the kernel has finished printing it") {
  // Shaped like a TCG guest's double fault seen by a bench run (trimmed).
  std::string seen =
      "\r\n@@B7@@\r\n[  716.711769] traps: PANIC: double fault, error_code: 0x0\r\n"
      "[  716.713687] Oops: double fault: 0000 [#1] PREEMPT SMP NOPTI\r\n"
      "[  716.714628] RIP: 0010:kmem_cache_alloc_node_noprof+0x6e/0x310\r\n"
      "[  716.7195513] Kernel panic - not syncing: Fatal exception in interrupt\r\n";
  CHECK(console_panic(seen).empty());  // still printing: the end line has not come
  seen += "[  716.909000] ---[ end Kernel panic - not syncing: Fatal exception in interrupt ]---\r\n";
  CHECK(console_panic(seen) ==
        "Oops: double fault: 0000 [#1] PREEMPT SMP NOPTI; Kernel panic - not syncing: Fatal exception in interrupt");
  // A panic without an oops (for example no root file system) still names its reason.
  CHECK(console_panic("[ 3.1] Kernel panic - not syncing: VFS: Unable to mount root fs\n"
                      "[ 3.2] ---[ end Kernel panic - not syncing: VFS: Unable to mount root fs ]---\n") ==
        "Kernel panic - not syncing: VFS: Unable to mount root fs");
  // Ordinary output, even output that talks about panics, is not one.
  CHECK(console_panic("@@B7@@\nno panic here: Oops: typo\n@@E7@@ 0\n").empty());
}

TEST_CASE("qemu: the serial console is logged and reachable through a socket") {
  QemuOptions o;
  o.out = "out";
  o.dir = "/tmp/vms";
  auto a = qemu_command(o, 2, "tcg", {}, 0);
  std::string line;
  for (auto& s : a) line += s + " ";
  CHECK(line.find("path=/tmp/vms/node2.sock,logfile=/tmp/vms/node2.log") != std::string::npos);
  CHECK(line.find("-serial chardev:console") != std::string::npos);
}

TEST_CASE("qemu --until: a node has reached it once its serial log holds every text, in any order") {
  const std::vector<std::string> both = {"grappe: node ready", "grappe: joined cluster grappe-test nodes=2"};
  // The join can come before the ready line: the ready line must still be waited for.
  CHECK_FALSE(until_reached("...\ngrappe: joined cluster grappe-test nodes=2\n", both));
  CHECK_FALSE(until_reached("grappe: node ready name=a machine-id=1\n", both));
  CHECK(until_reached("grappe: joined cluster grappe-test nodes=2\ngrappe: node ready name=a\n", both));
  CHECK(until_reached("anything", {}));
  CHECK(until_text({"a"}) == "'a'");
  CHECK(until_text(both) == "'grappe: node ready' and 'grappe: joined cluster grappe-test nodes=2'");
  CHECK(until_text({"a", "b", "c"}) == "'a', 'b' and 'c'");
}

namespace {
// A stand-in for QEMU's serial socket: accepts, prints `banner`, and never reads what is typed
// (a boot menu on the serial port), so the typed text piles up until the socket is full.
struct DeafConsole {
  std::filesystem::path dir, sock;
  int listener = -1, conn = -1;
  // answer_ready: reads the first "ready?" probe and answers it like a shell, then reads no more.
  explicit DeafConsole(const std::string& banner, bool answer_ready = false) {
    dir = std::filesystem::temp_directory_path() / ("grappe-console-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    sock = dir / "node1.sock";
    listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, sock.c_str(), sizeof sa.sun_path - 1);
    int small = 4096;
    ::setsockopt(listener, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    REQUIRE(::listen(listener, 1) == 0);
    banner_ = banner;
    acceptor_ = std::thread([this, answer_ready] {
      conn = ::accept(listener, nullptr, nullptr);
      if (conn < 0) return;
      (void)!::write(conn, banner_.data(), banner_.size());
      if (!answer_ready) return;
      std::string typed;
      char b[256];
      for (ssize_t n; typed.find("R") == std::string::npos || typed.back() != '\n';) {
        if ((n = ::read(conn, b, sizeof b)) <= 0) return;
        typed.append(b, static_cast<size_t>(n));
      }
      const size_t r = typed.rfind('R');
      const std::string reply = "@@R" + typed.substr(r + 1, typed.size() - r - 2) + "@@\r\n";
      (void)!::write(conn, reply.data(), reply.size());
    });
  }
  ~DeafConsole() {
    acceptor_.join();
    if (conn >= 0) ::close(conn);
    ::close(listener);
    std::filesystem::remove_all(dir);
  }
  std::string banner_;
  std::thread acceptor_;
};
}  // namespace

TEST_CASE("console: a console that nobody reads fails within the timeout, saying what it printed") {
  DeafConsole deaf("ISOLINUX 6.04  Grappe boot menu\r\n");
  std::string out;
  const auto t0 = std::chrono::steady_clock::now();
  // A long command fills the socket's buffers: before the fix this write blocked for ever.
  const std::string huge(4 << 20, 'x');
  try {
    run_console(deaf.sock, "echo " + huge, 2, out);
    FAIL("run_console returned");
  } catch (const Error& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find("no shell answered on the console within 2 s") != std::string::npos);
    CHECK(what.find("Grappe boot menu") != std::string::npos);
  }
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(took < 5);
}

TEST_CASE("console: a command typed into a console that stopped reading fails by the timeout") {
  DeafConsole deaf("grappe login: root (automatic login)\r\n", true);
  std::string out;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    run_console(deaf.sock, "echo " + std::string(4 << 20, 'x'), 2, out);  // more than any socket buffer
    FAIL("run_console returned");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("nothing reads the node's serial console") != std::string::npos);
  }
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 5);
}

TEST_CASE("--disk gives only the named nodes a virtio data disk, kept in the VMs' directory") {
  QemuOptions o;
  o.port = 1;
  o.dir = "vms";
  o.disks = {2};
  CHECK_FALSE(has(qemu_command(o, 1, "tcg", "v.fd", 0), "if=virtio"));
  CHECK(has(qemu_command(o, 2, "tcg", "v.fd", 0), "vms/node2-disk.img,if=virtio"));
}
