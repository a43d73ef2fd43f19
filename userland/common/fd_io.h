// Writing a whole buffer to a file descriptor: the loop over short writes and EINTR that every
// caller otherwise repeats. Header-only, so builder/ and initramfs/ can use it too.
#pragma once
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

namespace grappe {

namespace detail {
// Calls `op(ptr, len)` (a write(2)-like call) until all of `data` is out, retrying EINTR.
template <class Op>
bool all_out(std::string_view data, Op op) {
  for (size_t off = 0; off < data.size();) {
    ssize_t n = op(data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}
}  // namespace detail

// Writes all of `data` to `fd` with write(2), retrying short writes and EINTR. False when the
// descriptor fails or is closed (errno says why); a non-blocking fd's EAGAIN counts as failure.
inline bool write_all(int fd, std::string_view data) {
  return detail::all_out(data, [fd](const char* p, size_t n) { return ::write(fd, p, n); });
}

// The same over a socket with send(2) and MSG_NOSIGNAL: a peer that went away fails the call
// (EPIPE) instead of raising SIGPIPE in the process.
inline bool send_all(int fd, std::string_view data) {
  return detail::all_out(data, [fd](const char* p, size_t n) { return ::send(fd, p, n, MSG_NOSIGNAL); });
}

}  // namespace grappe
