#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "migration/handshake_gate.h"
#include "migration/peer_link.h"

using namespace grappe;

namespace {

struct Listener {
  int fd = -1;
  uint16_t port = 0;
  Listener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    socklen_t l = sizeof sa;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &l);
    port = ntohs(sa.sin_port);
    REQUIRE(::listen(fd, 4) == 0);
  }
  ~Listener() { ::close(fd); }
};

ClusterKey key_of(uint8_t b) {
  ClusterKey k;
  k.fill(b);
  return k;
}
NodeId id_of(uint8_t b) {
  NodeId i;
  i.fill(b);
  return i;
}

// Node 1 (client) and node 2 (server) of cluster key 7, authenticated over loopback.
std::pair<std::unique_ptr<TcpPeerLink>, std::unique_ptr<TcpPeerLink>> linked_pair() {
  Listener srv;
  std::unique_ptr<TcpPeerLink> server;
  std::string serr;
  std::thread t([&] { server = TcpPeerLink::accept(::accept(srv.fd, nullptr, nullptr), {key_of(7)}, id_of(2), 5, serr); });
  std::string err;
  auto client = TcpPeerLink::connect(htonl(INADDR_LOOPBACK), srv.port, key_of(7), id_of(1), 5, err);
  t.join();
  REQUIRE_MESSAGE(client, err);
  REQUIRE_MESSAGE(server, serr);
  return {std::move(client), std::move(server)};
}

}  // namespace

TEST_CASE("peer link: authenticated frames both ways, large payloads, peer ids") {
  auto [client, server] = linked_pair();
  CHECK(client->peer() == id_of(2));
  CHECK(server->peer() == id_of(1));
  std::string big(1 << 20, 'x');
  big[12345] = '\0';
  REQUIRE(client->send({"data", {{"n", 1}}, big}));
  REQUIRE(client->send({"commit", {}, {}}));
  auto f = server->recv(5);
  REQUIRE(f);
  CHECK(f->kind == "data");
  CHECK(f->meta["n"] == 1);
  CHECK(f->data == big);
  f = server->recv(5);
  REQUIRE(f);
  CHECK(f->kind == "commit");
  REQUIRE(server->send({"restored", {{"pid", 42}}, {}}));
  f = client->recv(5);
  REQUIRE(f);
  CHECK(f->meta["pid"] == 42);
  CHECK_FALSE(client->recv(0.1));  // nothing more: a timeout, reported as nothing
}

TEST_CASE("peer link: one frame reused for frames of changing sizes carries each exactly") {
  auto [client, server] = linked_pair();
  const std::vector<Frame> sent = {{"data", {{"n", 1}}, std::string(1 << 20, 'x')},
                                   {"data", {}, std::string(10, 'y')},
                                   {"file", {{"name", "pages-1.img"}}, {}},
                                   {"data", {}, std::string(500000, 'z')}};
  Frame reused{"data", {}, {}};  // as send_images() does: one frame, its buffer resized
  for (const Frame& f : sent) {
    reused = f;  // copy-assigned: the strings keep their capacity
    REQUIRE(client->send(reused));
  }
  Frame got;  // as migrate_in() does: one frame filled again and again
  for (const Frame& f : sent) {
    REQUIRE(server->recv_into(got, 5));
    CHECK(got.kind == f.kind);
    CHECK(got.meta == f.meta);  // a frame without meta leaves none behind from the last
    CHECK(got.data.size() == f.data.size());
    CHECK(got.data == f.data);
  }
}

TEST_CASE("peer link: another cluster's key is refused on both sides, with the reason") {
  Listener srv;
  std::unique_ptr<TcpPeerLink> server;
  std::string serr, err;
  std::thread t([&] { server = TcpPeerLink::accept(::accept(srv.fd, nullptr, nullptr), {key_of(7)}, id_of(2), 5, serr); });
  auto client = TcpPeerLink::connect(htonl(INADDR_LOOPBACK), srv.port, key_of(8), id_of(1), 5, err);
  t.join();
  CHECK_FALSE(client);
  CHECK_FALSE(server);
  CHECK(err.find("does not hold this cluster's key") != std::string::npos);
  CHECK(serr.find("does not hold this cluster's key") != std::string::npos);
}

TEST_CASE("peer link: a tampered byte on the wire breaks the link, nothing is delivered") {
  Listener srv;
  int raw = -1;
  std::unique_ptr<TcpPeerLink> server;
  std::string serr, err;
  // A man in the middle: the client talks to us, we relay to the server, flipping one byte.
  Listener mitm;
  std::thread relay([&] {
    int c = ::accept(mitm.fd, nullptr, nullptr);
    raw = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(srv.port);
    REQUIRE(::connect(raw, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    std::thread back([&] {
      char b[4096];
      for (ssize_t n; (n = ::read(raw, b, sizeof b)) > 0;) (void)!::write(c, b, static_cast<size_t>(n));
    });
    char b[65536];
    size_t total = 0;
    for (ssize_t n; (n = ::read(c, b, sizeof b)) > 0;) {
      // hello 53 + tag 32 + stream header 24 = 109 bytes; then frames: flip a ciphertext byte.
      if (total <= 120 && total + static_cast<size_t>(n) > 120) b[120 - total] ^= 1;
      total += static_cast<size_t>(n);
      (void)!::write(raw, b, static_cast<size_t>(n));
    }
    ::shutdown(raw, SHUT_RDWR);
    back.join();
    ::close(c);
    ::close(raw);
  });
  std::thread t([&] { server = TcpPeerLink::accept(::accept(srv.fd, nullptr, nullptr), {key_of(7)}, id_of(2), 5, serr); });
  auto client = TcpPeerLink::connect(htonl(INADDR_LOOPBACK), mitm.port, key_of(7), id_of(1), 5, err);
  t.join();
  REQUIRE_MESSAGE(client, err);
  REQUIRE_MESSAGE(server, serr);
  REQUIRE(client->send({"offer", {{"id", "1.1"}}, std::string(100, 'a')}));
  CHECK_FALSE(server->recv(5));
  CHECK_FALSE(server->recv(5));  // and it stays broken
  client.reset();
  server.reset();
  relay.join();
}

TEST_CASE("peer frames: decoding refuses malformed input") {
  Frame f{"file", {{"name", "pages-1.img"}, {"size", 7}}, "abc"};
  std::string enc = encode_frame(f);
  auto d = decode_frame(reinterpret_cast<const uint8_t*>(enc.data()), enc.size());
  REQUIRE(d);
  CHECK(d->kind == "file");
  CHECK(d->meta == f.meta);
  CHECK(d->data == "abc");
  for (size_t cut = 0; cut < 1 + 4 + 4; ++cut)
    CHECK_FALSE(decode_frame(reinterpret_cast<const uint8_t*>(enc.data()), cut));
  std::string bad = enc;
  bad[1] = 'F';  // kinds are lower-case words
  CHECK_FALSE(decode_frame(reinterpret_cast<const uint8_t*>(bad.data()), bad.size()));
  bad = enc;
  bad[5] = static_cast<char>(0xff);  // meta length beyond the frame
  CHECK_FALSE(decode_frame(reinterpret_cast<const uint8_t*>(bad.data()), bad.size()));
  bad = enc;
  bad[10] = '{';  // broken JSON
  CHECK_FALSE(decode_frame(reinterpret_cast<const uint8_t*>(bad.data()), bad.size()));
}

TEST_CASE("handshake gate: a few pending handshakes per source address, a cap in all, room again once they end") {
  HandshakeGate g(2, 3);
  CHECK(g.enter("10.0.0.9"));
  CHECK(g.enter("10.0.0.9"));
  CHECK_FALSE(g.enter("10.0.0.9"));  // its third, while two wait
  CHECK(g.enter("10.0.0.7"));        // another address still gets in
  CHECK_FALSE(g.enter("10.0.0.8"));  // three pending in all
  g.leave("10.0.0.9", false);
  CHECK(g.enter("10.0.0.8"));
  g.leave("10.0.0.7", true);
  g.leave("10.0.0.nope", false);  // unknown: ignored
  auto s = g.stats();
  CHECK(s["pending"] == 2);
  CHECK(s["refused"] == 2);
  CHECK(s["failed"] == 1);
}

TEST_CASE("peer link during a rekey: the server accepts the old and the new key, and proves with the client's") {
  for (uint8_t client_key : {uint8_t{7}, uint8_t{8}}) {
    Listener srv;
    std::unique_ptr<TcpPeerLink> server;
    std::string serr, err;
    std::thread t([&] { server = TcpPeerLink::accept(::accept(srv.fd, nullptr, nullptr), {key_of(8), key_of(7)}, id_of(2), 5, serr); });
    auto client = TcpPeerLink::connect(htonl(INADDR_LOOPBACK), srv.port, key_of(client_key), id_of(1), 5, err);
    t.join();
    REQUIRE_MESSAGE(client, err);
    REQUIRE_MESSAGE(server, serr);
    REQUIRE(client->send({"rekey", {{"epoch", 2}}, "x"}));
    auto f = server->recv(5);
    REQUIRE(f);
    CHECK(f->meta["epoch"] == 2);
  }
  // A key the server no longer accepts (a forgotten node's old one) is refused.
  Listener srv;
  std::unique_ptr<TcpPeerLink> server;
  std::string serr, err;
  std::thread t([&] { server = TcpPeerLink::accept(::accept(srv.fd, nullptr, nullptr), {key_of(8)}, id_of(2), 5, serr); });
  auto client = TcpPeerLink::connect(htonl(INADDR_LOOPBACK), srv.port, key_of(7), id_of(1), 5, err);
  t.join();
  CHECK_FALSE(client);
  CHECK_FALSE(server);
  CHECK(err.find("does not hold this cluster's key") != std::string::npos);
}
