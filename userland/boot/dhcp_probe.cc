#include "boot/dhcp_probe.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/mono_clock.h"

namespace grappe {
namespace {

constexpr size_t kFixed = 236;  // op … file, before the magic cookie
constexpr uint8_t kDhcpCookie[4] = {99, 130, 83, 99};

void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  b[at] = static_cast<uint8_t>(v >> 24), b[at + 1] = static_cast<uint8_t>(v >> 16);
  b[at + 2] = static_cast<uint8_t>(v >> 8), b[at + 3] = static_cast<uint8_t>(v);
}
uint32_t dhcp_u32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}
uint32_t net_order(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

class UdpDhcpSocket final : public DhcpSocket {
 public:
  explicit UdpDhcpSocket(int fd) : fd_(fd) {}
  ~UdpDhcpSocket() override { ::close(fd_); }
  bool send(const std::vector<uint8_t>& p) override {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(67);
    to.sin_addr.s_addr = INADDR_BROADCAST;
    return ::sendto(fd_, p.data(), p.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) == static_cast<ssize_t>(p.size());
  }
  std::optional<std::vector<uint8_t>> recv(double timeout_s) override {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout_s * 1000)) <= 0) return std::nullopt;
    std::vector<uint8_t> b(1500);
    ssize_t n = ::recv(fd_, b.data(), b.size(), 0);
    if (n < 0) return std::nullopt;
    b.resize(static_cast<size_t>(n));
    return b;
  }

 private:
  int fd_;
};

}  // namespace

std::string ipv4_text(uint32_t a) {
  char b[INET_ADDRSTRLEN] = "?";
  ::inet_ntop(AF_INET, &a, b, sizeof b);
  return b;
}

std::vector<uint8_t> dhcp_discover(const std::array<uint8_t, 6>& mac, uint32_t xid) {
  std::vector<uint8_t> b(kFixed, 0);
  b[0] = 1;  // BOOTREQUEST
  b[1] = 1;  // Ethernet
  b[2] = 6;
  put32(b, 4, xid);
  b[10] = 0x80;  // broadcast flag: we have no address to be answered at
  std::copy(mac.begin(), mac.end(), b.begin() + 28);
  b.insert(b.end(), kDhcpCookie, kDhcpCookie + 4);
  const uint8_t opts[] = {53, 1, 1,          // DHCPDISCOVER
                          55, 3, 1, 3, 54,   // ask for mask, router, server id
                          60, 12, 'g', 'r', 'a', 'p', 'p', 'e', '-', 'p', 'r', 'o', 'b', 'e',
                          255};
  b.insert(b.end(), opts, opts + sizeof opts);
  b.resize(std::max<size_t>(b.size(), 300), 0);  // BOOTP minimum
  return b;
}

std::optional<DhcpOffer> parse_dhcp_offer(const uint8_t* p, size_t n, uint32_t xid) {
  if (!p || n < kFixed + 4 || p[0] != 2 || p[1] != 1 || p[2] != 6 || dhcp_u32(p + 4) != xid) return std::nullopt;
  if (!std::equal(kDhcpCookie, kDhcpCookie + 4, p + kFixed)) return std::nullopt;
  DhcpOffer o;
  o.offered = net_order(p + 16);
  int type = 0;
  for (size_t i = kFixed + 4; i < n;) {
    uint8_t code = p[i];
    if (code == 255) break;
    if (code == 0) {
      ++i;
      continue;
    }
    if (i + 1 >= n) return std::nullopt;
    size_t len = p[i + 1];
    if (i + 2 + len > n) return std::nullopt;
    const uint8_t* v = p + i + 2;
    if (code == 53 && len == 1) type = v[0];
    if (code == 54 && len == 4) o.server = net_order(v);
    if (code == 1 && len == 4) o.mask = net_order(v);
    i += 2 + len;
  }
  if (type != 2) return std::nullopt;  // DHCPOFFER only
  return o;
}

std::optional<DhcpOffer> probe_dhcp(DhcpSocket& s, const std::array<uint8_t, 6>& mac, uint32_t xid, int attempts,
                                    double wait_s, const std::vector<uint32_t>& ignore) {
  const auto packet = dhcp_discover(mac, xid);
  for (int a = 0; a < attempts; ++a) {
    if (!s.send(packet)) return std::nullopt;
    for (double until = now_s() + wait_s; now_s() < until;) {
      auto d = s.recv(std::max(0.0, until - now_s()));
      if (!d) break;
      auto o = parse_dhcp_offer(d->data(), d->size(), xid);
      if (o && std::find(ignore.begin(), ignore.end(), o->server) == ignore.end()) return o;
    }
  }
  return std::nullopt;
}

std::unique_ptr<DhcpSocket> open_dhcp_socket(const std::string& ifname, std::string& err) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return err = std::string("socket: ") + std::strerror(errno), nullptr;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
  if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(), static_cast<socklen_t>(ifname.size())) != 0) {
    err = "cannot bind to interface " + ifname + ": " + std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(68);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    err = std::string("cannot listen on UDP port 68 (a DHCP client running?): ") + std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  return std::make_unique<UdpDhcpSocket>(fd);
}

}  // namespace grappe
