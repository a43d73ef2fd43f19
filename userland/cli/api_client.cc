#include "cli/api_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "common/fd_io.h"

namespace grappe {

nlohmann::json api_call(const std::string& path, const nlohmann::json& request, int timeout_ms) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) throw std::runtime_error("socket path too long: " + path);
  std::strcpy(sa.sun_path, path.c_str());
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    std::string why = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot reach grapped at " + path + " (" + why +
                             "). Is it running? On a node: systemctl status grapped");
  }
  std::string out = request.dump() + "\n";
  write_all(fd, out);  // a failure shows as the reply that does not come
  std::string in;
  char buf[8192];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) {
      ::close(fd);
      throw std::runtime_error("grapped at " + path + " did not answer within " + std::to_string(timeout_ms) + " ms");
    }
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
    if (in.find('\n') != std::string::npos) break;
  }
  ::close(fd);
  auto reply = nlohmann::json::parse(in, nullptr, false);
  if (reply.is_discarded()) throw std::runtime_error("grapped at " + path + " sent an unreadable reply");
  if (!reply.value("ok", false)) throw std::runtime_error("grapped: " + reply.value("error", std::string("request failed")));
  return reply;
}

}  // namespace grappe
