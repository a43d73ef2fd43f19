#include "migration/image_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

namespace grappe {
namespace fs = std::filesystem;

bool make_private_dir(const std::string& dir, std::error_code& ec) {
  ec.clear();
  fs::create_directories(dir, ec);
  if (ec) return false;
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  return !ec;
}

bool create_private_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

int sweep_image_dirs(const std::string& work_dir, std::error_code& ec) {
  ec.clear();
  if (!fs::exists(work_dir, ec)) return 0;
  std::vector<fs::path> gone;
  for (const auto& e : fs::directory_iterator(work_dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.ends_with(".work")) name.resize(name.size() - 5);
    if (name.ends_with("-in") || name.ends_with("-out")) gone.push_back(e.path());
  }
  if (ec) return 0;
  int n = 0;
  for (const auto& p : gone) {
    std::error_code e2;
    if (fs::remove_all(p, e2) > 0 && !e2) ++n;
    if (e2 && !ec) ec = e2;
  }
  std::error_code e3;
  fs::permissions(work_dir, fs::perms::owner_all, fs::perm_options::replace, e3);
  if (e3 && !ec) ec = e3;
  return n;
}

}  // namespace grappe
