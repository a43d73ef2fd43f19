#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <unistd.h>

#include "apt_meta.h"
#include "error.h"
#include "hash.h"
#include "recipe_check.h"

namespace fs = std::filesystem;
using namespace grappe::build;

namespace {

const std::string kPackages =
    "Package: systemd-sysv\nVersion: 257-1\nArchitecture: amd64\n\n"
    "Package: htop\nVersion: 3.4-1\n\n"
    "Package: linux-image-amd64\nVersion: 6.12\n\n"
    "Package: mawk\nProvides: awk\n\n"
    "Package: exim4-daemon-light\nProvides: mail-transport-agent (= 4.98),\n default-mta\n\n"
    "Package: dma\nProvides: mail-transport-agent\n\n"
    "Package: libsodium-dev\n";

// A mirror made of strings; every other path is missing. Counts what was asked.
struct FakeMirror : MirrorFetcher {
  std::map<std::string, std::string> files;
  std::map<std::string, int> asked;
  bool down = false;
  std::optional<std::string> get(const std::string& rel) override {
    ++asked[rel];
    if (down) throw MirrorUnreachable("cannot reach the mirror", "http://m.example/debian/: Connection refused");
    auto it = files.find(rel);
    if (it == files.end()) return std::nullopt;
    return it->second;
  }
  std::string where() const override { return "http://m.example/debian/"; }
};

struct NoRunner : ProcessRunner {
  int run(const std::vector<std::string>&, const RunOptions&) override { throw Error("no process in this test"); }
  std::string capture(const std::vector<std::string>&) override { throw Error("no process in this test"); }
};

// A trixie suite whose Release lists Packages.xz (which this mirror lacks) and Packages.
FakeMirror trixie_mirror(const std::string& packages = kPackages) {
  FakeMirror m;
  m.files["dists/trixie/Release"] =
      "Origin: Debian\nSuite: testing\nCodename: trixie\nArchitectures: all amd64 arm64\n"
      "Components: main contrib\nNo-Support-for-Architecture-all: Packages\nMD5Sum:\n"
      " 0123 10 main/binary-amd64/Packages\nSHA256:\n"
      " " + std::string(64, 'a') + " 99 main/binary-amd64/Packages.xz\n"
      " " + sha256_hex(packages) + " " + std::to_string(packages.size()) + " main/binary-amd64/Packages\n";
  m.files["dists/trixie/main/binary-amd64/Packages"] = packages;
  return m;
}

MirrorCheck check(const std::string& recipe_text, FakeMirror& m, const fs::path& cache = {}) {
  NoRunner runner;
  IndexSource src{m, runner, cache};
  return check_recipe_on_mirror(parse_recipe(recipe_text, "r.toml"), src);
}

std::string first_error(const MirrorCheck& c, const std::string& recipe_text) {
  auto r = parse_recipe(recipe_text, "r.toml");
  for (const auto& f : c.findings)
    if (f.error) return format_finding(r, f);
  return "";
}

}  // namespace

TEST_CASE("Release and Packages text") {
  auto m = trixie_mirror();
  auto rel = parse_release(m.files["dists/trixie/Release"]);
  CHECK(rel.codename == "trixie");
  CHECK(rel.components == std::vector<std::string>{"main", "contrib"});
  CHECK(rel.all_in_arch_indices);
  CHECK(rel.files.count("main/binary-amd64/Packages.xz"));
  CHECK(rel.files.at("main/binary-amd64/Packages").size == kPackages.size());
  CHECK(bare_package_name("libc6:amd64") == "libc6");
  CHECK(bare_package_name(" foo (>= 1.2)") == "foo");
  CHECK(bare_package_name("foo=1.2-3") == "foo");
  CHECK(bare_package_name("foo/trixie") == "foo");
  std::istringstream in(kPackages);
  PackageIndex idx;
  idx.add(in);
  CHECK(idx.real.count("htop"));
  CHECK(!idx.real.count("awk"));
  CHECK(idx.provided.at("mail-transport-agent") == std::set<std::string>{"dma", "exim4-daemon-light"});
  CHECK(idx.provided.count("default-mta"));  // a folded Provides line
  auto back = PackageIndex::parse(idx.serialize());
  CHECK(back.real == idx.real);
  CHECK(back.provided == idx.provided);
}

TEST_CASE("a recipe whose suite and packages the mirror has passes") {
  auto m = trixie_mirror();
  auto c = check("[rootfs]\npackages = [\"systemd-sysv\", \"htop\"]\n[userland]\nsdk_packages = [\"libsodium-dev\"]\n", m);
  CHECK(c.ok());
  CHECK(c.findings.empty());
  CHECK(c.packages_checked == 4);  // with the kernel package
  CHECK(m.asked["dists/trixie/main/binary-amd64/Packages.xz"] == 1);  // listed but missing: the next one is used
}

TEST_CASE("an unknown suite names its line and the nearest suite") {
  auto m = trixie_mirror();
  const std::string text = "[image]\nname = \"x\"\n[rootfs]\nsuite = \"trixxie\"\npackages = [\"htop\"]\n";
  auto c = check(text, m);
  REQUIRE(!c.ok());
  auto e = first_error(c, text);
  CHECK(e.find("r.toml line 4: suite 'trixxie' is not on the mirror http://m.example/debian/") != std::string::npos);
  CHECK(e.find("did you mean `trixie`?") != std::string::npos);
}

TEST_CASE("a missing package names its own line, its table and the nearest name") {
  auto m = trixie_mirror();
  const std::string text =
      "[rootfs]\npackages = [\n  \"systemd-sysv\",\n  \"htopp\",\n]\n[userland]\nsdk_packages = [\"nosuch-dev\"]\n";
  auto c = check(text, m);
  REQUIRE(c.findings.size() == 2);
  auto r = parse_recipe(text, "r.toml");
  auto a = format_finding(r, c.findings[0]);
  CHECK(a.find("r.toml line 4: package 'htopp' is not in trixie main for amd64") != std::string::npos);
  CHECK(a.find("did you mean `htop`?") != std::string::npos);
  CHECK(a.find("[rootfs]") != std::string::npos);
  auto b = format_finding(r, c.findings[1]);
  CHECK(b.find("r.toml line 7: package 'nosuch-dev'") != std::string::npos);
  CHECK(b.find("[userland]") != std::string::npos);
  CHECK(b.find("did you mean") == std::string::npos);
}

TEST_CASE("a kernel package the mirror lacks is an error on its line") {
  auto m = trixie_mirror();
  auto c = check("[rootfs]\npackages = [\"htop\"]\n[kernel]\npackage = \"linux-image-foo\"\n", m);
  REQUIRE(c.findings.size() == 1);
  CHECK(c.findings[0].line == 4);
}

TEST_CASE("virtual packages are no errors; several providers give a warning") {
  auto m = trixie_mirror();
  auto one = check("[rootfs]\npackages = [\"default-mta\"]\n", m);
  CHECK(one.ok());
  CHECK(one.findings.empty());
  auto several = check("[rootfs]\npackages = [\"mail-transport-agent\"]\n", m);
  CHECK(several.ok());
  REQUIRE(several.findings.size() == 1);
  CHECK(!several.findings[0].error);
  CHECK(several.findings[0].message.find("dma, exim4-daemon-light") != std::string::npos);
}

TEST_CASE("the index is cached by its hash; a corrupt index and an unreachable mirror are errors") {
  fs::path cache = fs::temp_directory_path() / ("grappe-index-cache-" + std::to_string(::getpid()));
  fs::remove_all(cache);
  auto m = trixie_mirror();
  CHECK(check("[rootfs]\npackages = [\"htop\"]\n", m, cache).ok());
  CHECK(fs::exists(cache / "apt-index" / sha256_hex(kPackages)));
  m.files.erase("dists/trixie/main/binary-amd64/Packages");  // now only the cache has it
  CHECK(check("[rootfs]\npackages = [\"htop\"]\n", m, cache).ok());
  CHECK(m.asked["dists/trixie/main/binary-amd64/Packages"] == 1);
  fs::remove_all(cache);

  auto bad = trixie_mirror();
  bad.files["dists/trixie/main/binary-amd64/Packages"] = "Package: other\n";
  CHECK_THROWS_WITH_AS(check("[rootfs]\npackages = [\"htop\"]\n", bad),
                       doctest::Contains("does not match its Release file"), Error);
  auto down = trixie_mirror();
  down.down = true;
  CHECK_THROWS_AS(check("[rootfs]\npackages = [\"htop\"]\n", down), MirrorUnreachable);
}

TEST_CASE("mirror fetchers: file:// reads the tree, a missing file is nullopt, other schemes are unreachable") {
  fs::path root = fs::temp_directory_path() / ("grappe-file-mirror-" + std::to_string(::getpid()));
  fs::create_directories(root / "dists/trixie");
  { std::ofstream(root / "dists/trixie/Release") << "Codename: trixie\n"; }
  auto f = make_mirror_fetcher("file://" + root.string());
  CHECK(f->get("dists/trixie/Release") == std::optional<std::string>("Codename: trixie\n"));
  CHECK(!f->get("dists/trixxie/Release"));
  CHECK_THROWS_AS(make_mirror_fetcher("file://" + (root / "gone").string())->get("dists/x/Release"), MirrorUnreachable);
  CHECK_THROWS_AS(make_mirror_fetcher("ftp://m.example/debian")->get("dists/x/Release"), MirrorUnreachable);
  // Nothing listens on port 1 of the loopback: refused at once.
  CHECK_THROWS_AS(make_mirror_fetcher("http://127.0.0.1:1/debian")->get("dists/x/Release"), MirrorUnreachable);
  fs::remove_all(root);
}
