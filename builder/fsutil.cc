#include "fsutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/fd_io.h"
#include "common/text_file.h"
#include "error.h"

namespace fs = std::filesystem;

namespace grappe::build {

std::string read_file(const fs::path& p) {
  auto text = try_read_file(p.string());
  if (!text) throw Error("cannot read", p.string(), "check that the file exists");
  return std::move(*text);
}

fs::path temp_sibling(const fs::path& final_path) {
  return final_path.parent_path() /
         ("." + final_path.filename().string() + ".tmp-" + std::to_string(::getpid()));
}

void write_file_atomic(const fs::path& p, const std::string& data, unsigned mode) {
  fs::create_directories(p.parent_path());
  auto tmp = temp_sibling(p);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) throw Error("cannot write", tmp.string(), std::strerror(errno));
  if (!write_all(fd, data)) {
    int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    throw Error("write failed", tmp.string(), std::strerror(e));
  }
  ::fchmod(fd, mode);
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), p.c_str()) < 0) throw Error("rename failed", p.string(), std::strerror(errno));
}

void publish(const fs::path& tmp, const fs::path& final_path) {
  fs::create_directories(final_path.parent_path());
  if (fs::is_directory(final_path) && !fs::is_symlink(final_path)) {
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_path.c_str(), RENAME_EXCHANGE) < 0)
      throw Error("cannot swap in", final_path.string(), std::strerror(errno));
    remove_tree_safely(tmp);  // now holds the old version
    return;
  }
  if (::rename(tmp.c_str(), final_path.c_str()) < 0)
    throw Error("cannot move into place", final_path.string(), std::strerror(errno));
}

void remove_tree_safely(const fs::path& p) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(p, ec))) return;
  auto abs = fs::weakly_canonical(p).string();
  std::ifstream mi("/proc/self/mountinfo");
  std::vector<std::string> below;
  for (std::string line; std::getline(mi, line);) {
    std::istringstream l(line);
    std::string id, parent, devno, root, mnt;
    l >> id >> parent >> devno >> root >> mnt;
    if (mnt.size() > abs.size() && mnt.compare(0, abs.size(), abs) == 0 && mnt[abs.size()] == '/')
      below.push_back(mnt);
  }
  std::sort(below.rbegin(), below.rend());  // deepest first
  for (const auto& m : below) ::umount2(m.c_str(), MNT_DETACH);
  fs::remove_all(p, ec);
  if (ec) throw Error("cannot remove", p.string(), ec.message());
}

void link_or_copy(const fs::path& src, const fs::path& dst) {
  std::error_code ec;
  fs::remove(dst, ec);
  fs::create_hard_link(src, dst, ec);
  if (ec) fs::copy_file(src, dst, fs::copy_options::overwrite_existing);
}

uint64_t tree_size(const fs::path& p) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(p, ec); it != fs::recursive_directory_iterator(); ++it)
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += it->file_size(ec);
  return total;
}

std::string human_size(uint64_t b) {
  char buf[32];
  if (b >= (1u << 20)) std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(b) / 1e6);
  else std::snprintf(buf, sizeof buf, "%.1f kB", static_cast<double>(b) / 1e3);
  return buf;
}

}  // namespace grappe::build
