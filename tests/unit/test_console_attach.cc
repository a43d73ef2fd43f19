#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <cstring>
#include <filesystem>
#include <thread>

#include "console_attach.h"
#include "error.h"

using namespace grappe::build;

TEST_CASE("console attach: typed text up to Ctrl-] goes to the node") {
  bool detach = false;
  CHECK(typed_to_send("hostname\r", detach) == 9);
  CHECK_FALSE(detach);
  CHECK(typed_to_send("ls\r\x1dmore", detach) == 3);
  CHECK(detach);
  CHECK(typed_to_send("\x1d", detach) == 0);
  CHECK(detach);
}

namespace {
// A node's console socket that records what arrives and answers each line with "out:<line>".
struct EchoNode {
  std::filesystem::path sock = std::filesystem::temp_directory_path() / ("grappe-attach-" + std::to_string(::getpid()) + ".sock");
  int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  std::string got;
  std::thread t;
  EchoNode() {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, sock.c_str(), sizeof sa.sun_path - 1);
    std::filesystem::remove(sock);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    REQUIRE(::listen(listener, 1) == 0);
    t = std::thread([this] {
      const int c = ::accept(listener, nullptr, nullptr);
      char b[256];
      for (ssize_t n; (n = ::read(c, b, sizeof b)) > 0;) {
        got.append(b, static_cast<size_t>(n));
        if (got.back() == '\n') (void)!::send(c, ("out:" + got).data(), got.size() + 4, MSG_NOSIGNAL);
      }
      ::close(c);
    });
  }
  ~EchoNode() {
    ::close(listener);
    if (t.joinable()) t.join();
    std::filesystem::remove(sock);
  }
};
}  // namespace

TEST_CASE("console attach: input from a pipe is sent, the output relayed, and it ends when the node is quiet") {
  EchoNode node;
  int in[2], out[2];
  REQUIRE(::pipe(in) == 0);
  REQUIRE(::pipe(out) == 0);
  (void)!::write(in[1], "hostname\n", 9);
  ::close(in[1]);  // the end of input: it leaves a second after the node's last output
  CHECK(attach_console(node.sock, 5, in[0], out[1]) == 0);
  ::close(out[1]);
  char b[256];
  const ssize_t n = ::read(out[0], b, sizeof b);
  CHECK(std::string(b, static_cast<size_t>(std::max<ssize_t>(n, 0))) == "out:hostname\n");
  ::close(in[0]);
  ::close(out[0]);
  node.t.join();  // our connection closed
  CHECK(node.got == "hostname\n");
}

TEST_CASE("console attach: Ctrl-] detaches; what came after it is never sent") {
  EchoNode node;
  int in[2], out[2];
  REQUIRE(::pipe(in) == 0);
  REQUIRE(::pipe(out) == 0);
  (void)!::write(in[1], "ls\n\x1dreboot\n", 12);
  CHECK(attach_console(node.sock, 5, in[0], out[1]) == 0);  // the input is still open: Ctrl-] ended it
  for (int fd : {in[0], in[1], out[0], out[1]}) ::close(fd);
  node.t.join();
  CHECK(node.got == "ls\n");
}

TEST_CASE("console attach: waits for a VM still starting, whose socket is not there yet") {
  int in[2], out[2];
  REQUIRE(::pipe(in) == 0);
  REQUIRE(::pipe(out) == 0);
  (void)!::write(in[1], "x\n", 2);
  ::close(in[1]);
  std::unique_ptr<EchoNode> node;
  const auto path = std::filesystem::temp_directory_path() / ("grappe-attach-" + std::to_string(::getpid()) + ".sock");
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    node = std::make_unique<EchoNode>();
  });
  CHECK(attach_console(path, 5, in[0], out[1]) == 0);
  later.join();
  for (int fd : {in[0], out[0], out[1]}) ::close(fd);
  node.reset();
}

TEST_CASE("console attach: no VM behind the socket is a clear error") {
  CHECK_THROWS_WITH_AS(attach_console("/nonexistent/node9.sock", 1, 0, 1), doctest::Contains("cannot connect to the console"), Error);
}
