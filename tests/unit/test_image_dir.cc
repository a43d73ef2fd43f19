// Migration images are private: directories 0700, files 0600; what handoffs left behind goes
// when the migrator starts, and nothing else in its directory does.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>

#include "migration/image_dir.h"

using namespace grappe;
namespace fs = std::filesystem;

namespace {
unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}
}  // namespace

TEST_CASE("image dirs: created 0700, files 0600, never over an existing file") {
  const fs::path base = fs::temp_directory_path() / ("grappe-imgdir-" + std::to_string(::getpid()));
  fs::remove_all(base);
  std::error_code ec;
  REQUIRE(make_private_dir((base / "1.2-in" / "pre-0").string(), ec));
  CHECK(mode_of(base / "1.2-in" / "pre-0") == 0700);
  REQUIRE(make_private_dir((base / "1.2-in").string(), ec));
  CHECK(mode_of(base / "1.2-in") == 0700);
  REQUIRE(create_private_file((base / "1.2-in" / "core-1.img").string()));
  CHECK(mode_of(base / "1.2-in" / "core-1.img") == 0600);
  CHECK(!create_private_file((base / "1.2-in" / "core-1.img").string()));
  fs::remove_all(base);
}

TEST_CASE("image dirs: the sweep removes handoff leftovers only") {
  const fs::path base = fs::temp_directory_path() / ("grappe-sweep-" + std::to_string(::getpid()));
  fs::remove_all(base);
  for (const char* d : {"1.2-in", "1.2-in.work", "3.4-out", "3.4-out.work", "keep", "notes-inside"}) fs::create_directories(base / d);
  std::ofstream(base / "1.2-in" / "pages-1.img") << "memory";
  std::ofstream(base / "state.json") << "{}";
  fs::permissions(base, fs::perms::all);
  std::error_code ec;
  CHECK(sweep_image_dirs(base.string(), ec) == 4);
  CHECK(!ec);
  CHECK(!fs::exists(base / "1.2-in"));
  CHECK(!fs::exists(base / "3.4-out.work"));
  CHECK(fs::exists(base / "keep"));
  CHECK(fs::exists(base / "notes-inside"));
  CHECK(fs::exists(base / "state.json"));
  CHECK(mode_of(base) == 0700);
  CHECK(sweep_image_dirs((base / "absent").string(), ec) == 0);
  CHECK(!ec);
  fs::remove_all(base);
}
