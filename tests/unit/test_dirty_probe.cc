#include <doctest/doctest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "migration/dirty_probe.h"

using namespace grappe;
namespace fs = std::filesystem;

TEST_CASE("dirty probe: counts present and soft-dirty pages of writable private mappings only (fake procfs)") {
  fs::path proc = fs::temp_directory_path() / ("grappe-dirty-" + std::to_string(::getpid()));
  fs::remove_all(proc);
  fs::create_directories(proc / "7");
  const long page = ::sysconf(_SC_PAGESIZE);
  char maps[512];
  std::snprintf(maps, sizeof maps,
                "%08lx-%08lx rw-p 00000000 00:00 0 \n"            // 4 pages: counted
                "%08lx-%08lx r-xp 00000000 08:01 42 /bin/job\n"   // code: not counted
                "%08lx-%08lx rw-s 00000000 00:05 7 /dev/shm/x\n", // shared: not counted
                1 * page, 5 * page, 5 * page, 7 * page, 7 * page, 8 * page);
  std::ofstream(proc / "7/maps") << maps;
  std::vector<uint64_t> pm(8, 0);
  const uint64_t present = 1ull << 63, swapped = 1ull << 62, soft_dirty = 1ull << 55;
  pm[1] = present | soft_dirty;  // written
  pm[2] = present;               // resident, clean
  pm[3] = swapped | soft_dirty;  // swapped out, written
  pm[4] = 0;                     // never touched
  pm[5] = pm[6] = present | soft_dirty;  // code pages: ignored
  pm[7] = present | soft_dirty;          // shared: ignored
  std::ofstream(proc / "7/pagemap", std::ios::binary).write(reinterpret_cast<const char*>(pm.data()), 64);
  auto c = count_soft_dirty(proc.string(), {7});
  CHECK(c.resident == 3);
  CHECK(c.dirty == 2);
  CHECK(count_soft_dirty(proc.string(), {8}).resident == 0);  // a process gone: nothing
  CHECK(clear_soft_dirty(proc.string(), {7}));
  std::ifstream in(proc / "7/clear_refs");
  std::string cleared;
  in >> cleared;
  CHECK(cleared == "4");
  CHECK_FALSE(clear_soft_dirty(proc.string(), {}));
  CHECK(dirty_share(proc.string(), 9, 0.01) == -1);  // no such job
  fs::remove_all(proc);
}

TEST_CASE("dirty probe: this very process, half of a buffer rewritten after clearing") {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE)), pages = 2048;
  std::vector<char> buf(pages * page);
  std::memset(buf.data(), 1, buf.size());  // all resident
  if (!clear_soft_dirty("/proc", {::getpid()})) {
    MESSAGE("skipped: cannot clear soft-dirty bits here (/proc/self/clear_refs)");
    return;
  }
  auto before = count_soft_dirty("/proc", {::getpid()});
  for (size_t i = 0; i < pages / 2; ++i) buf[i * page] = 2;
  auto after = count_soft_dirty("/proc", {::getpid()});
  if (after.dirty == 0) {
    MESSAGE("skipped: this kernel reports no soft-dirty bits (CONFIG_MEM_SOFT_DIRTY off)");
    return;
  }
  CHECK(after.resident >= pages);
  CHECK(after.dirty >= before.dirty + pages / 2);
  CHECK(after.dirty < before.dirty + pages / 2 + pages / 4);  // the other half stayed clean
}
