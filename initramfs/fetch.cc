#include "fetch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/fd_io.h"

namespace grappe::init {

bool parse_url(const std::string& s, Url& out, std::string& error) {
  const std::string scheme = "http://";
  if (s.rfind(scheme, 0) != 0) {
    error = "only http:// URLs are supported: " + s;
    return false;
  }
  std::string rest = s.substr(scheme.size());
  auto slash = rest.find('/');
  std::string hostport = slash == std::string::npos ? rest : rest.substr(0, slash);
  out.path = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = hostport.rfind(':');
  out.host = hostport;
  out.port = 80;
  if (colon != std::string::npos) {
    out.host = hostport.substr(0, colon);
    std::string p = hostport.substr(colon + 1);
    if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) {
      error = "bad port in URL: " + s;
      return false;
    }
    out.port = std::stoi(p);
    if (out.port < 1 || out.port > 65535) {
      error = "bad port in URL: " + s;
      return false;
    }
  }
  if (out.host.empty()) {
    error = "no host in URL: " + s;
    return false;
  }
  return true;
}

namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

// A deliberately small HTTP/1.0 client: grappe-init is a static binary, and Debian ships
// cpp-httplib as a shared library only. One GET, no redirects, numeric IPv4 hosts.
std::string fetch_to_file(const std::string& url, const std::string& dest, std::string& error,
                          const std::function<void(size_t, size_t)>& progress, size_t max_bytes) {
  Url u;
  if (!parse_url(url, u, error)) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(u.port));
  if (::inet_pton(AF_INET, u.host.c_str(), &addr.sin_addr) != 1) {
    error = "host '" + u.host + "' in " + url + " must be an IPv4 address (no DNS in the initramfs)";
    return "";
  }
  Fd sock;
  sock.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{30, 0};
  ::setsockopt(sock.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(sock.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (sock.fd < 0 || ::connect(sock.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    error = "cannot connect to " + u.host + ":" + std::to_string(u.port) + ": " + std::strerror(errno);
    return "";
  }
  if (!send_all(sock.fd, "GET " + u.path + " HTTP/1.0\r\nHost: " + u.host + "\r\nUser-Agent: grappe-init\r\n\r\n")) {
    error = "sending the request to " + url + " failed: " + std::strerror(errno);
    return "";
  }
  // Headers: read until the blank line (bounded).
  std::string head;
  char buf[65536];
  size_t body_start = std::string::npos;
  while (body_start == std::string::npos) {
    ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
    if (n <= 0) {
      error = "no HTTP response from " + url + (n < 0 ? std::string(": ") + std::strerror(errno) : "");
      return "";
    }
    head.append(buf, static_cast<size_t>(n));
    body_start = head.find("\r\n\r\n");
    if (body_start == std::string::npos && head.size() > 16384) {
      error = "HTTP headers from " + url + " are too large";
      return "";
    }
  }
  std::string status_line = head.substr(0, head.find("\r\n"));
  if (status_line.size() < 12 || status_line.compare(0, 5, "HTTP/") != 0 || status_line.substr(9, 3) != "200") {
    error = "HTTP error for " + url + ": " + status_line;
    return "";
  }
  size_t total = 0;
  std::string lower = head.substr(0, body_start);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto cl = lower.find("\r\ncontent-length:");
  if (cl != std::string::npos) total = std::strtoull(lower.c_str() + cl + 17, nullptr, 10);
  const std::string too_long = "the answer from " + url + " is longer than the " + std::to_string(max_bytes) +
                               " bytes expected (not a Grappe boot server?)";
  if (max_bytes && total > max_bytes) return error = too_long, "";

  FILE* f = std::fopen(dest.c_str(), "wb");
  if (!f) {
    error = "cannot write " + dest + ": " + std::strerror(errno);
    return "";
  }
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  size_t got = 0;
  bool ok = true;
  auto consume = [&](const char* d, size_t len) {
    crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(d), len);
    if (std::fwrite(d, 1, len, f) != len) ok = false;
    got += len;
    if (progress) progress(got, total);
  };
  if (head.size() > body_start + 4) consume(head.data() + body_start + 4, head.size() - body_start - 4);
  while (!max_bytes || got <= max_bytes) {
    ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
    if (n < 0) {
      error = "download of " + url + " broke off after " + std::to_string(got) + " bytes: " + std::strerror(errno);
      std::fclose(f);
      return "";
    }
    if (n == 0) break;
    consume(buf, static_cast<size_t>(n));
    if (!ok) break;
  }
  if (max_bytes && got > max_bytes) {
    std::fclose(f);
    error = too_long;
    return "";
  }
  if (std::fclose(f) != 0 || !ok) {
    error = "writing " + dest + " failed (out of memory for the RAM disk?)";
    return "";
  }
  if (total && got != total) {
    error = "short download from " + url + ": " + std::to_string(got) + " of " + std::to_string(total) + " bytes";
    return "";
  }
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, h);
  char hex[sizeof h * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  return hex;
}

}  // namespace grappe::init
