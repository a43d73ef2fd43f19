#include "jobs/fd_store.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace grappe {
namespace {

class NotifyFdStore final : public FdStore {
 public:
  NotifyFdStore() {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path || !*path || std::strlen(path) >= sizeof(addr_.sun_path)) return;
    addr_.sun_family = AF_UNIX;
    std::memcpy(addr_.sun_path, path, std::strlen(path));
    len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + std::strlen(path));
    if (addr_.sun_path[0] == '@') addr_.sun_path[0] = '\0';  // abstract namespace
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  }
  ~NotifyFdStore() override {
    if (fd_ >= 0) ::close(fd_);
  }
  bool enabled() const override { return fd_ >= 0; }

  bool keep(const std::string& name, int fd) override { return fd >= 0 && send("FDSTORE=1\nFDPOLL=0\nFDNAME=" + name + "\n", fd); }
  void drop(const std::string& name) override { send("FDSTOREREMOVE=1\nFDNAME=" + name + "\n", -1); }

  std::multimap<std::string, int> take() override {
    std::multimap<std::string, int> out;
    const char* pid = std::getenv("LISTEN_PID");
    const char* n = std::getenv("LISTEN_FDS");
    const char* names = std::getenv("LISTEN_FDNAMES");
    if (!pid || !n || std::strtol(pid, nullptr, 10) != ::getpid()) return out;
    const long count = std::strtol(n, nullptr, 10);
    std::string all = names ? names : "";
    size_t at = 0;
    for (long i = 0; i < count && i < 65536; ++i) {
      const size_t colon = all.find(':', at);
      std::string name = at <= all.size() ? all.substr(at, colon == std::string::npos ? std::string::npos : colon - at) : "";
      at = colon == std::string::npos ? all.size() + 1 : colon + 1;
      const int fd = 3 + static_cast<int>(i);
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      out.emplace(name, fd);
    }
    ::unsetenv("LISTEN_PID"), ::unsetenv("LISTEN_FDS"), ::unsetenv("LISTEN_FDNAMES");
    return out;
  }

 private:
  bool send(const std::string& text, int fd) {
    if (fd_ < 0) return false;
    iovec iov{const_cast<char*>(text.data()), text.size()};
    msghdr m{};
    m.msg_name = &addr_;
    m.msg_namelen = len_;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
    if (fd >= 0) {
      m.msg_control = ctl;
      m.msg_controllen = sizeof ctl;
      cmsghdr* c = CMSG_FIRSTHDR(&m);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    return ::sendmsg(fd_, &m, MSG_NOSIGNAL) >= 0;
  }

  int fd_ = -1;
  sockaddr_un addr_{};
  socklen_t len_ = 0;
};

}  // namespace

std::unique_ptr<FdStore> notify_fd_store() { return std::make_unique<NotifyFdStore>(); }

std::string job_fd_name(const std::string& job_id, const char* stream) { return "job." + job_id + "." + stream; }

}  // namespace grappe
