#include "home/overlay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/text_file.h"

namespace grappe {
namespace {

std::string b64(const uint8_t* p, size_t n) {
  std::string out(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), p, n, sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}


// Writes `text` to `path` with mode 0600 (the file holds the private key), replacing it whole.
std::string write_private(const std::string& dir, const std::string& path, const std::string& text) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return "cannot create " + dir + ": " + std::strerror(errno);
  ::chmod(dir.c_str(), 0700);
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return "cannot write " + tmp + ": " + std::strerror(errno);
  bool ok = ::fchmod(fd, 0600) == 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return "cannot write " + path + ": " + why;
  }
  return "";
}

}  // namespace

uint32_t overlay_ip(uint16_t number) { return htonl((10u << 24) | (251u << 16) | number); }
uint32_t home_ip() { return htonl((10u << 24) | (250u << 16) | 1); }

std::string ip4_text(uint32_t ip) {
  char b[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &ip, b, sizeof b);
  return b;
}

OverlayKeys overlay_keys(std::span<const uint8_t> secret, std::span<const uint8_t> node_id) {
  static const char kLabel[] = "grappe overlay key v1";
  std::vector<uint8_t> in(kLabel, kLabel + sizeof kLabel);
  in.insert(in.end(), node_id.begin(), node_id.end());
  uint8_t priv[32], pub[32];
  crypto_generichash(priv, sizeof priv, in.data(), in.size(), secret.data(), secret.size());
  priv[0] &= 248, priv[31] &= 127, priv[31] |= 64;
  crypto_scalarmult_curve25519_base(pub, priv);
  OverlayKeys k{b64(priv, 32), b64(pub, 32)};
  sodium_memzero(priv, sizeof priv);
  return k;
}

std::string overlay_conf(const std::string& priv, const std::vector<OverlayPeer>& peers) {
  std::string c = "[Interface]\nPrivateKey = " + priv + "\nListenPort = " + std::to_string(kOverlayPort) + "\n";
  for (const OverlayPeer& p : peers)
    c += "\n[Peer]\nPublicKey = " + p.pub + "\nAllowedIPs = " + ip4_text(overlay_ip(p.number)) + "/32" +
         (p.home ? ", " + ip4_text(home_ip()) + "/32" : "") + "\nEndpoint = " +
         ip4_text(p.endpoint) + ":" + std::to_string(kOverlayPort) + "\n";
  return c;
}

Overlay::Overlay(CommandRunner& run, std::string dir) : run_(run), dir_(std::move(dir)) {}

std::string Overlay::run(const std::vector<std::string>& argv) { return run_checked(run_, argv, 30); }

std::string Overlay::sync(const std::string& priv, uint16_t number, const std::vector<OverlayPeer>& peers,
                          bool serves_home) {
  if (!created_) {
    // After a restart of grapped the interface is still there (it must be: /home rides on it).
    if (run({"ip", "link", "show", "dev", kOverlayIf}).empty()) created_ = true;
    else if (std::string why = run({"ip", "link", "add", "dev", kOverlayIf, "type", "wireguard"}); !why.empty())
      return "cannot create the members' network " + std::string(kOverlayIf) + " (" + why +
             "): the kernel needs WireGuard (CONFIG_WIREGUARD)";
    created_ = true;
  }
  const std::string conf = overlay_conf(priv, peers);
  if (conf != applied_conf_) {
    const std::string path = dir_ + "/" + kOverlayIf + ".conf";
    if (std::string why = write_private(dir_, path, conf); !why.empty()) return why;
    if (std::string why = run({"wg", "syncconf", kOverlayIf, path}); !why.empty()) return why;
    applied_conf_ = conf;
  }
  if (number != applied_number_) {
    if (number == 0 || number == 0xffff)
      return "node number " + std::to_string(number) + " has no address on the members' network (10.251.0.1 to 10.251.255.254)";
    const std::string addr = ip4_text(overlay_ip(number)) + "/16";
    // After a restart of grapped the address is usually right already: leave it (and the NFS
    // traffic on it) alone rather than flush and add it again.
    CommandResult cur = run_.run({"ip", "-4", "-o", "address", "show", "dev", kOverlayIf}, 30);
    // Its own address and nothing else (but /home's, which the home share manages).
    size_t others = 0;
    for (size_t p = 0; (p = cur.output.find(" inet ", p)) != std::string::npos; p += 6)
      if (cur.output.compare(p + 6, addr.size(), addr) != 0 &&
          cur.output.compare(p + 6, ip4_text(home_ip()).size() + 1, ip4_text(home_ip()) + "/") != 0)
        ++others;
    const bool only_addr = cur.status == 0 && cur.output.find(" " + addr + " ") != std::string::npos && others == 0;
    std::vector<std::vector<std::string>> steps;
    if (!only_addr) applied_home_ = -1;  // the flush takes /home's address too
    if (!only_addr)
      steps = {{"ip", "address", "flush", "dev", kOverlayIf}, {"ip", "address", "add", addr, "dev", kOverlayIf}};
    steps.push_back({"ip", "link", "set", "dev", kOverlayIf, "up"});
    for (const auto& argv : steps)
      if (std::string why = run(argv); !why.empty()) return why;
    applied_number_ = number;
  }
  if (static_cast<int>(serves_home) != applied_home_) {
    const std::string home = ip4_text(home_ip()) + "/32";
    // Every node routes /home's address into the members' network; the server also holds it.
    if (std::string why = run({"ip", "route", "replace", home, "dev", kOverlayIf}); !why.empty()) return why;
    if (serves_home) {
      if (std::string why = run({"ip", "address", "replace", home, "dev", kOverlayIf}); !why.empty()) return why;
    } else {
      run({"ip", "address", "del", home, "dev", kOverlayIf});  // absent already: fine
    }
    applied_home_ = serves_home;
  }
  return "";
}

}  // namespace grappe
