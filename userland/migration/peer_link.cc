#include "migration/peer_link.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "common/json_fields.h"

namespace grappe {
namespace {

constexpr char kLinkMagic[4] = {'G', 'R', 'P', 'L'};
constexpr uint8_t kLinkVersion = 2;
constexpr size_t kHello = 4 + 1 + 32 + 16 + 32;  // magic, version, nonce, node id, X25519 key
using Clock = std::chrono::steady_clock;

void put32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint32_t get32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// Reads/writes exactly n bytes before the deadline.
bool io_all(int fd, uint8_t* buf, size_t n, bool writing, Clock::time_point deadline) {
  for (size_t off = 0; off < n;) {
    int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (ms < 0) return false;
    pollfd p{fd, static_cast<short>(writing ? POLLOUT : POLLIN), 0};
    int r = ::poll(&p, 1, ms);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    ssize_t k = writing ? ::send(fd, buf + off, n - off, MSG_NOSIGNAL) : ::recv(fd, buf + off, n - off, 0);
    if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (k <= 0) return false;
    off += static_cast<size_t>(k);
  }
  return true;
}

Clock::time_point after(double s) { return Clock::now() + std::chrono::microseconds(static_cast<int64_t>(s * 1e6)); }

}  // namespace

void encode_frame_into(const Frame& f, std::string& out) {
  std::string meta = f.meta.is_null() ? std::string() : dump_safe(f.meta);  // a job's argv need not be UTF-8
  out.clear();
  out.reserve(1 + f.kind.size() + 4 + meta.size() + f.data.size());
  out.push_back(static_cast<char>(f.kind.size()));
  out += f.kind;
  put32(out, static_cast<uint32_t>(meta.size()));
  out += meta;
  out += f.data;
}

std::string encode_frame(const Frame& f) {
  std::string out;
  encode_frame_into(f, out);
  return out;
}

bool decode_frame_into(const uint8_t* p, size_t n, Frame& f) {
  if (n < 1 || n > kMaxFrame) return false;
  size_t klen = p[0];
  if (klen == 0 || klen > 16 || n < 1 + klen + 4) return false;
  for (size_t i = 0; i < klen; ++i)
    if (p[1 + i] < 'a' || p[1 + i] > 'z') return false;
  size_t mlen = get32(p + 1 + klen);
  size_t at = 1 + klen + 4;
  if (mlen > kMaxFrameMeta || mlen > n - at) return false;
  nlohmann::json meta;
  if (mlen) {
    meta = nlohmann::json::parse(p + at, p + at + mlen, nullptr, false);
    if (meta.is_discarded()) return false;
  }
  f.kind.assign(reinterpret_cast<const char*>(p + 1), klen);
  f.meta = std::move(meta);
  at += mlen;
  f.data.assign(reinterpret_cast<const char*>(p + at), n - at);
  return true;
}

std::optional<Frame> decode_frame(const uint8_t* p, size_t n) {
  Frame f;
  if (!decode_frame_into(p, n, f)) return std::nullopt;
  return f;
}

struct TcpPeerLink::State {
  crypto_secretstream_xchacha20poly1305_state tx, rx;
};

TcpPeerLink::TcpPeerLink(int fd) : fd_(fd), st_(std::make_unique<State>()) {}
TcpPeerLink::~TcpPeerLink() {
  if (fd_ >= 0) ::close(fd_);
  sodium_memzero(st_.get(), sizeof *st_);
}

bool TcpPeerLink::handshake(bool client, const std::vector<ClusterKey>& keys, const NodeId& self, double timeout_s,
                            std::string& err) {
  auto deadline = after(timeout_s);
  uint8_t mine[kHello], theirs[kHello];
  uint8_t eph_sec[crypto_scalarmult_SCALARBYTES];
  std::memcpy(mine, kLinkMagic, 4);
  mine[4] = kLinkVersion;
  randombytes_buf(mine + 5, 32);
  std::memcpy(mine + 37, self.data(), 16);
  randombytes_buf(eph_sec, sizeof eph_sec);
  crypto_scalarmult_base(mine + 53, eph_sec);
  if (!io_all(fd_, mine, kHello, true, deadline) || !io_all(fd_, theirs, kHello, false, deadline)) {
    sodium_memzero(eph_sec, sizeof eph_sec);
    err = "no handshake from the peer (not a grapped, or unreachable)";
    return false;
  }
  if (std::memcmp(theirs, kLinkMagic, 4) != 0 || theirs[4] != kLinkVersion) {
    sodium_memzero(eph_sec, sizeof eph_sec);
    err = "the peer does not speak the grappe peer protocol v2";
    return false;
  }
  std::memcpy(peer_.data(), theirs + 37, 16);
  // The ephemeral Diffie-Hellman secret: a former member who kept an old cluster key and recorded
  // the session still cannot read it (forward secrecy; what makes a rekey's hand-over safe).
  uint8_t shared[crypto_scalarmult_BYTES];
  const bool dh_ok = crypto_scalarmult(shared, eph_sec, theirs + 53) == 0;
  sodium_memzero(eph_sec, sizeof eph_sec);
  if (!dh_ok) {
    err = "the peer sent an unusable ephemeral key";
    return false;
  }
  // transcript = client hello || server hello: both sides compute the same one.
  uint8_t transcript[2 * kHello];
  std::memcpy(transcript, client ? mine : theirs, kHello);
  std::memcpy(transcript + kHello, client ? theirs : mine, kHello);
  auto mac = [&](const ClusterKey& key, const uint8_t* label, size_t label_len, uint8_t out[32]) {
    crypto_auth_hmacsha256_state h;
    crypto_auth_hmacsha256_init(&h, key.data(), key.size());
    crypto_auth_hmacsha256_update(&h, label, label_len);
    crypto_auth_hmacsha256_update(&h, transcript, sizeof transcript);
    crypto_auth_hmacsha256_update(&h, shared, sizeof shared);
    crypto_auth_hmacsha256_final(&h, out);
  };
  auto tag = [&](const ClusterKey& key, char role, uint8_t out[32]) {
    const uint8_t label[1] = {static_cast<uint8_t>(role)};
    mac(key, label, 1, out);
  };
  // The client proves first with its current key; the server finds which of the keys it accepts
  // (during a rekey, the old and the new: membership/key_ring.h) the proof is under, then proves
  // with that one.
  uint8_t my_tag[32], want[32], got[32];
  const ClusterKey* key = nullptr;
  bool ok = true;
  if (client) {
    key = &keys.front();
    tag(*key, 'c', my_tag);
    if (!io_all(fd_, my_tag, 32, true, deadline) || !io_all(fd_, got, 32, false, deadline)) {
      sodium_memzero(shared, sizeof shared);
      err = "the peer refused our proof: it does not hold this cluster's key (another cluster, or a key replaced since)";
      return false;
    }
    tag(*key, 's', want);
    if (sodium_memcmp(got, want, 32) != 0) key = nullptr;
  } else {
    ok = io_all(fd_, got, 32, false, deadline);
    for (size_t i = 0; ok && i < keys.size() && !key; ++i) {
      tag(keys[i], 'c', want);
      if (sodium_memcmp(got, want, 32) == 0) key = &keys[i];
    }
    if (ok && key) {
      tag(*key, 's', my_tag);
      ok = io_all(fd_, my_tag, 32, true, deadline);
    }
  }
  if (!ok) {
    sodium_memzero(shared, sizeof shared);
    err = "the peer closed the connection during authentication (another cluster's key?)";
    return false;
  }
  if (!key) {
    sodium_memzero(shared, sizeof shared);
    err = "the peer failed to authenticate: it does not hold this cluster's key";
    return false;
  }
  // Direction keys: HMAC(cluster key, "k" || direction || transcript || DH secret).
  uint8_t k_tx[32], k_rx[32];
  auto derive = [&](char dir, uint8_t out[32]) {
    const uint8_t label[2] = {'k', static_cast<uint8_t>(dir)};
    mac(*key, label, 2, out);
  };
  derive(client ? '>' : '<', k_tx);
  derive(client ? '<' : '>', k_rx);
  sodium_memzero(shared, sizeof shared);
  uint8_t hdr_tx[crypto_secretstream_xchacha20poly1305_HEADERBYTES], hdr_rx[sizeof hdr_tx];
  crypto_secretstream_xchacha20poly1305_init_push(&st_->tx, hdr_tx, k_tx);
  ok = io_all(fd_, hdr_tx, sizeof hdr_tx, true, deadline) && io_all(fd_, hdr_rx, sizeof hdr_rx, false, deadline) &&
       crypto_secretstream_xchacha20poly1305_init_pull(&st_->rx, hdr_rx, k_rx) == 0;
  sodium_memzero(k_tx, sizeof k_tx);
  sodium_memzero(k_rx, sizeof k_rx);
  if (!ok) err = "the peer broke off after authenticating";
  return ok;
}

std::unique_ptr<TcpPeerLink> TcpPeerLink::connect(uint32_t ipv4, uint16_t port, const ClusterKey& key, const NodeId& self,
                                                  double timeout_s, std::string& err) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    err = std::string("socket: ") + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<TcpPeerLink> l(new TcpPeerLink(fd));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = ipv4;
  char addr[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &ipv4, addr, sizeof addr);
  const std::string where = std::string(addr) + ":" + std::to_string(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 && errno != EINPROGRESS) {
    err = "cannot connect to " + where + ": " + std::strerror(errno);
    return nullptr;
  }
  pollfd p{fd, POLLOUT, 0};
  int soerr = 0;
  socklen_t sl = sizeof soerr;
  if (::poll(&p, 1, static_cast<int>(timeout_s * 1000)) <= 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 ||
      soerr != 0) {
    err = "cannot connect to " + where + ": " + (soerr ? std::strerror(soerr) : "timed out");
    return nullptr;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!l->handshake(true, {key}, self, timeout_s, err)) {
    err = where + ": " + err;
    return nullptr;
  }
  return l;
}

std::unique_ptr<TcpPeerLink> TcpPeerLink::accept(int fd, const std::vector<ClusterKey>& keys, const NodeId& self,
                                                 double timeout_s, std::string& err) {
  if (keys.empty()) {
    ::close(fd);
    err = "no key to authenticate with";
    return nullptr;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::unique_ptr<TcpPeerLink> l(new TcpPeerLink(fd));
  if (!l->handshake(false, keys, self, timeout_s, err)) return nullptr;
  return l;
}

bool TcpPeerLink::send(const Frame& f) {
  if (broken_) return false;
  encode_frame_into(f, tx_plain_);
  if (tx_plain_.size() > kMaxFrame) return false;
  const size_t clen = tx_plain_.size() + crypto_secretstream_xchacha20poly1305_ABYTES;
  if (tx_wire_.size() < 4 + clen) tx_wire_.resize(4 + clen);
  crypto_secretstream_xchacha20poly1305_push(&st_->tx, tx_wire_.data() + 4, nullptr,
                                             reinterpret_cast<const uint8_t*>(tx_plain_.data()), tx_plain_.size(), nullptr,
                                             0, 0);
  for (int i = 0; i < 4; ++i) tx_wire_[static_cast<size_t>(i)] = static_cast<uint8_t>((clen >> (8 * i)) & 0xff);
  if (!io_all(fd_, tx_wire_.data(), 4 + clen, true, after(120))) broken_ = true;
  return !broken_;
}

bool TcpPeerLink::recv_into(Frame& f, double timeout_s) {
  if (broken_) return false;
  auto deadline = after(timeout_s);
  uint8_t len[4];
  if (!io_all(fd_, len, 4, false, deadline)) {
    broken_ = true;  // a timeout mid-stream would desynchronise the framing: the link is done
    return false;
  }
  size_t clen = get32(len);
  if (clen < crypto_secretstream_xchacha20poly1305_ABYTES + 1 ||
      clen > kMaxFrame + crypto_secretstream_xchacha20poly1305_ABYTES) {
    broken_ = true;
    return false;
  }
  if (rx_wire_.size() < clen) rx_wire_.resize(clen);
  if (rx_plain_.size() < clen) rx_plain_.resize(clen);
  unsigned long long mlen = 0;
  unsigned char tag = 0;
  if (!io_all(fd_, rx_wire_.data(), clen, false, after(std::max(timeout_s, 120.0))) ||
      crypto_secretstream_xchacha20poly1305_pull(&st_->rx, rx_plain_.data(), &mlen, &tag, rx_wire_.data(), clen, nullptr,
                                                 0) != 0 ||
      !decode_frame_into(rx_plain_.data(), static_cast<size_t>(mlen), f)) {
    broken_ = true;
    return false;
  }
  return true;
}

std::optional<Frame> TcpPeerLink::recv(double timeout_s) {
  Frame f;
  if (!recv_into(f, timeout_s)) return std::nullopt;
  return f;
}

bool TcpPeerLink::readable(double timeout_s) {
  if (broken_) return false;
  pollfd p{fd_, POLLIN, 0};
  int r = ::poll(&p, 1, static_cast<int>(timeout_s * 1000));
  return r > 0;  // POLLHUP/POLLERR too: recv() then reports the broken link
}

}  // namespace grappe
