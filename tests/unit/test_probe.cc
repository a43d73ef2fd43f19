#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "probe.h"

using namespace grappe::init;

namespace {
std::vector<unsigned char> pvd(const std::string& label) {
  std::vector<unsigned char> s(kSector, 0);
  s[0] = 1;
  std::memcpy(s.data() + 1, "CD001", 5);
  s[6] = 1;
  std::memset(s.data() + 40, ' ', 32);
  std::memcpy(s.data() + 40, label.data(), label.size());
  return s;
}
}  // namespace

TEST_CASE("volume id from a primary volume descriptor") {
  auto s = pvd("GRAPPE_TEST");
  CHECK(iso_volume_id(s.data(), s.size()) == "GRAPPE_TEST");
  s[1] = 'X';
  CHECK(iso_volume_id(s.data(), s.size()) == "");
  auto t = pvd("GRAPPE");
  t[0] = 2;  // supplementary descriptor, not the primary one
  CHECK(iso_volume_id(t.data(), t.size()) == "");
  CHECK(iso_volume_id(t.data(), 100) == "");
}

TEST_CASE("reading the label from a file the size of a small disk") {
  auto p = std::filesystem::temp_directory_path() / "grappe-probe.img";
  {
    std::ofstream f(p, std::ios::binary);
    std::vector<char> zero(kPvdOffset, 0);
    f.write(zero.data(), static_cast<std::streamsize>(zero.size()));
    auto s = pvd("GRAPPE");
    f.write(reinterpret_cast<const char*>(s.data()), static_cast<std::streamsize>(s.size()));
  }
  CHECK(read_volume_id(p.string()) == "GRAPPE");
  std::filesystem::resize_file(p, 1000);
  CHECK(read_volume_id(p.string()) == "");
  CHECK(read_volume_id("/nonexistent/device") == "");
  std::filesystem::remove(p);
}
