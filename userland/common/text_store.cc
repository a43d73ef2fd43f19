#include "common/text_store.h"

#include <filesystem>
#include <fstream>

#include "common/text_file.h"

namespace grappe {

std::optional<std::string> FileStore::read(const std::string& path) const { return try_read_file(path); }

std::string FileStore::write(const std::string& path, const std::string& text) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream o(tmp, std::ios::binary | std::ios::trunc);
    o << text;
    if (!o.flush()) return "cannot write " + tmp;
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return "cannot rename " + tmp + " to " + path;
  }
  return "";
}

}  // namespace grappe
