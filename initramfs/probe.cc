#include "probe.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

namespace grappe::init {

std::string iso_volume_id(const unsigned char* s, size_t len) {
  if (len < kSector || s[0] != 1 || std::memcmp(s + 1, "CD001", 5) != 0 || s[6] != 1) return "";
  std::string id(reinterpret_cast<const char*>(s + 40), 32);
  while (!id.empty() && (id.back() == ' ' || id.back() == '\0')) id.pop_back();
  for (char c : id)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return "";
  return id;
}

std::string read_volume_id(const std::string& device) {
  int fd = ::open(device.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  unsigned char buf[kSector];
  ssize_t n = ::pread(fd, buf, sizeof buf, kPvdOffset);
  ::close(fd);
  return n == static_cast<ssize_t>(sizeof buf) ? iso_volume_id(buf, sizeof buf) : "";
}

}  // namespace grappe::init
