#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "common/node_info.h"

namespace fs = std::filesystem;
using namespace grappe;

TEST_CASE("node info from a root tree, and the ready line tests wait for") {
  fs::path r = fs::temp_directory_path() / "grappe-nodeinfo";
  fs::remove_all(r);
  fs::create_directories(r / "etc/grappe");
  fs::create_directories(r / "run/grappe/medium/grappe");
  std::ofstream(r / "etc/hostname") << "grappe-525400677201\n";
  std::ofstream(r / "etc/machine-id") << "0123456789abcdef0123456789abcdef\n";
  std::ofstream(r / "run/grappe/identity") << "mac=52:54:00:67:72:01\nmachine_id=x\n";
  std::ofstream(r / "etc/grappe/image.json") << R"({"name":"grappe","build_id":"b1","cluster":"c","key_fingerprint":"f","kernel":"6.12"})";
  fs::create_directories(r / "usr/share/grappe");
  std::ofstream(r / "usr/share/grappe/manifest.json") << "abc";
  auto n = read_node_info(r.string());
  CHECK(n.manifest == "ba7816bf8f01cfea");  // SHA-256 of "abc", first 16 hex digits
  CHECK(to_json(n)["manifest"] == "ba7816bf8f01cfea");
  CHECK(n.hostname == "grappe-525400677201");
  CHECK(n.mac == "52:54:00:67:72:01");
  CHECK(n.build_id == "b1");
  CHECK(n.medium == "cd/usb");
  CHECK(ready_line(n) == "grappe: node ready name=grappe-525400677201 machine-id=0123456789abcdef0123456789abcdef");
  CHECK(to_json(n)["cluster"] == "c");
  fs::remove_all(r);
  auto empty = read_node_info(r.string());
  CHECK(ready_line(empty) == "grappe: node ready name=? machine-id=?");
  CHECK(empty.manifest.empty());
}
