#include <doctest/doctest.h>

#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "boot_copy.h"
#include "common/text_file.h"

using namespace grappe::init;
namespace fs = std::filesystem;

namespace {
std::string hex_sha256(const std::string& data) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  char out[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(out, sizeof out, h, sizeof h);
  return out;
}

// A fake HTTP server: name → content; every fetch is recorded.
struct FakeServer {
  std::map<std::string, std::string> files;
  std::vector<std::string> asked;
  Fetcher fetcher() {
    return [this](const std::string& url, const std::string& dest, std::string& err) -> std::string {
      asked.push_back(url);
      const std::string name = url.substr(url.rfind('/') + 1);
      auto it = files.find(name);
      if (it == files.end()) {
        err = "HTTP 404";
        return "";
      }
      std::ofstream(dest, std::ios::binary) << it->second;
      return hex_sha256(it->second);
    };
  }
  std::string sums() const {
    std::string s;
    for (const auto& [n, c] : files)
      if (n != "SHA256SUMS") s += hex_sha256(c) + "  " + n + "\n";
    return s;
  }
};

struct Dir {
  fs::path p;
  Dir() : p(fs::temp_directory_path() / ("grappe-bootcopy-" + std::to_string(::getpid()))) {
    fs::remove_all(p);
    fs::create_directories(p / "fetched");
  }
  ~Dir() { fs::remove_all(p); }
};

}  // namespace

TEST_CASE("parse_sums reads sha256sum's format and skips what is not a hash and a plain name") {
  const std::string h(64, 'a');
  auto s = parse_sums(h + "  vmlinuz\n" + h + " *initrd.img\nnot a line\n" + std::string(63, 'b') + "  short\n" + h +
                      "  ../etc/passwd\n" + std::string(64, 'G') + "  upper\n");
  CHECK(s.size() == 2);
  CHECK(s["vmlinuz"] == h);
  CHECK(s["initrd.img"] == h);
}

TEST_CASE("a network-booted node keeps every served file, checked, laid out like the CD") {
  REQUIRE(sodium_init() >= 0);
  Dir d;
  FakeServer srv;
  srv.files = {{"vmlinuz", "kernel"},       {"initrd.img", "initrd"},   {"boot.ipxe", "#!ipxe\n"},
               {"undionly.kpxe", "bios"},   {"snponly.efi", "uefi"},    {"base.squashfs", "BASE"},
               {"node.squashfs", "NODE"}};
  srv.files["SHA256SUMS"] = srv.sums();
  std::ofstream(d.p / "fetched/base.squashfs") << "BASE";
  std::ofstream(d.p / "fetched/node.squashfs") << "NODE";
  const std::map<std::string, std::string> layers = {{"base.squashfs", hex_sha256("BASE")}, {"node.squashfs", hex_sha256("NODE")}};
  const std::map<std::string, std::string> local = {{"base.squashfs", (d.p / "fetched/base.squashfs").string()},
                                                    {"node.squashfs", (d.p / "fetched/node.squashfs").string()}};
  const fs::path m = d.p / "medium";

  SUBCASE("all good") {
    CHECK(mirror_boot_files("http://10.71.0.1/grappe/", layers, local, m.string(), srv.fetcher()) == "");
    CHECK(grappe::read_text(m / "boot/vmlinuz") == "kernel");
    CHECK(grappe::read_text(m / "boot/initrd.img") == "initrd");
    CHECK(grappe::read_text(m / "pxe/boot.ipxe") == "#!ipxe\n");
    CHECK(grappe::read_text(m / "pxe/undionly.kpxe") == "bios");
    CHECK(grappe::read_text(m / "pxe/snponly.efi") == "uefi");
    CHECK(grappe::read_text(m / "live/base.squashfs") == "BASE");
    CHECK(fs::hard_link_count(m / "live/base.squashfs") == 2);  // no second copy in RAM
    CHECK(grappe::read_text(m / "live/SHA256SUMS") == srv.files["SHA256SUMS"]);
    CHECK(srv.asked.front() == "http://10.71.0.1/grappe/SHA256SUMS");
    CHECK(std::find(srv.asked.begin(), srv.asked.end(), "http://10.71.0.1/grappe/base.squashfs") == srv.asked.end());
  }
  SUBCASE("a corrupt kernel is refused and no layer is linked, so the node will not serve") {
    srv.files["vmlinuz"] = "kernel, but corrupted";
    std::string why = mirror_boot_files("http://s/", layers, local, m.string(), srv.fetcher());
    CHECK(why.find("SHA-256 mismatch for http://s/vmlinuz") != std::string::npos);
    CHECK_FALSE(fs::exists(m));  // nothing half-copied left
  }
  SUBCASE("sums naming other layers than the booted ones (the image changed) stop the copy") {
    auto other = layers;
    other["node.squashfs"] = hex_sha256("NODE v2");
    std::string why = mirror_boot_files("http://s/", other, local, m.string(), srv.fetcher());
    CHECK(why.find("does not match the layer node.squashfs") != std::string::npos);
    CHECK(srv.asked.size() == 1);
  }
  SUBCASE("an older image's sums without the kernel line") {
    srv.files.erase("vmlinuz");
    srv.files["SHA256SUMS"] = srv.sums();
    std::string why = mirror_boot_files("http://s/", layers, local, m.string(), srv.fetcher());
    CHECK(why.find("lists no vmlinuz") != std::string::npos);
    CHECK_FALSE(fs::exists(m / "live/base.squashfs"));
  }
  SUBCASE("a file the server lacks") {
    srv.files.erase("snponly.efi");
    std::string why = mirror_boot_files("http://s/", layers, local, m.string(), srv.fetcher());
    CHECK(why.find("cannot fetch http://s/snponly.efi: HTTP 404") != std::string::npos);
  }
  SUBCASE("no server") {
    srv.files.clear();
    CHECK(mirror_boot_files("http://s/", layers, local, m.string(), srv.fetcher()).find("cannot fetch http://s/SHA256SUMS") == 0);
  }
}
