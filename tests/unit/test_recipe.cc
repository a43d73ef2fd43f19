#include <doctest/doctest.h>

#include "error.h"
#include "recipe.h"
#include "suggest.h"

using namespace grappe::build;

namespace {
std::string error_of(const std::string& text) {
  try {
    parse_recipe(text, "r.toml");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
const std::string kMinimal = "[rootfs]\npackages = [\"systemd-sysv\"]\n";
}  // namespace

TEST_CASE("a minimal recipe gets the documented defaults") {
  auto r = parse_recipe(kMinimal, "r.toml");
  CHECK(r.suite == "trixie");
  CHECK(r.variant == "minbase");
  CHECK(r.kernel_package == "linux-image-amd64");
  CHECK(r.compression == "zstd");
  CHECK(r.default_entry == "node");
  CHECK(r.packages == std::vector<std::string>{"systemd-sysv"});
}

TEST_CASE("every section of the shipped recipes parses") {
  auto d = load_recipe(std::string(GRAPPE_SOURCE_DIR) + "/recipes/default.toml");
  CHECK(d.default_entry == "node");
  CHECK(!d.trim.empty());
  auto t = load_recipe(std::string(GRAPPE_SOURCE_DIR) + "/recipes/test.toml");
  CHECK(t.default_entry == "serial");
  CHECK(t.cluster_key.size() == 64);
}

TEST_CASE("unknown keys and sections are errors that name file, line and the valid keys") {
  auto e = error_of(kMinimal + "[boot]\ndefualt = \"node\"\n");
  CHECK(e.find("unknown recipe key 'boot.defualt'") != std::string::npos);
  CHECK(e.find("r.toml") != std::string::npos);
  CHECK(e.find("line 4") != std::string::npos);  // toml11 reports the line
  CHECK(e.find("default") != std::string::npos);
  auto s = error_of(kMinimal + "[bootloader]\nx = 1\n");
  CHECK(s.find("unknown recipe section 'bootloader'") != std::string::npos);
  CHECK(s.find("valid sections are") != std::string::npos);
}

TEST_CASE("bad values name the field and what would be valid") {
  CHECK(error_of(kMinimal + "[boot]\ndefault = \"fast\"\n").find("one of node, debug, serial") != std::string::npos);
  CHECK(error_of(kMinimal + "[squashfs]\ncompression = \"zip\"\n").find("squashfs.compression") != std::string::npos);
  CHECK(error_of(kMinimal + "[squashfs]\nlevel = 99\n").find("from 1 to 22") != std::string::npos);
  CHECK(error_of(kMinimal + "[boot]\ntimeout = \"5\"\n").find("expected an integer") != std::string::npos);
  CHECK(error_of(kMinimal + "[cluster]\nkey = \"abc\"\n").find("64 lower-case hex") != std::string::npos);
  CHECK(error_of(kMinimal + "[kernel]\ntrim = [\"kernel/../etc\"]\n").find("kernel.trim") != std::string::npos);
  CHECK(error_of(kMinimal + "[image]\nvolume_label = \"lower\"\n").find("volume_label") != std::string::npos);
  CHECK(error_of("[rootfs]\npackages = [\"Bad Name\"]\n").find("rootfs.packages") != std::string::npos);
  CHECK(error_of("[rootfs]\nsuite = \"trixie\"\n").find("no [rootfs] packages") != std::string::npos);
}

TEST_CASE("TOML syntax errors carry the file and line") {
  auto e = error_of("[rootfs\npackages = []\n");
  CHECK(e.find("cannot parse recipe r.toml") != std::string::npos);
  CHECK(e.find("line 1") != std::string::npos);
}

TEST_CASE("edit distance and the nearest valid word") {
  CHECK(edit_distance("timeout", "timeout") == 0);
  CHECK(edit_distance("timout", "timeout") == 1);
  CHECK(edit_distance("defualt", "default") == 1);  // a swap is one edit
  CHECK(edit_distance("", "abc") == 3);
  CHECK(nearest("timout", {"cmdline", "default", "timeout"}) == "timeout");
  CHECK(nearest("zzz", {"cmdline", "default", "timeout"}).empty());
  CHECK(did_you_mean("trixxie", {"bookworm", "trixie"}) == "did you mean `trixie`? ");
}

TEST_CASE("a misspelt recipe key or section suggests the nearest valid one") {
  auto e = error_of("[rootfs]\npackages = [\"htop\"]\n[boot]\ntimout = 3\n");
  CHECK(e.find("r.toml line 4") != std::string::npos);
  CHECK(e.find("did you mean `timeout`?") != std::string::npos);
  CHECK(error_of("[rootfs]\npackages = [\"htop\"]\n[clustr]\nname = \"x\"\n").find("did you mean `cluster`?") != std::string::npos);
  CHECK(error_of("[rootfs]\npackages = [\"htop\"]\n[boot]\nzzzzzz = 3\n").find("did you mean") == std::string::npos);
}

TEST_CASE("the recipe remembers the line of each value it was given") {
  auto r = parse_recipe("[rootfs]\nsuite = \"trixie\"\npackages = [\n  \"a0\",\n  \"b0\",\n]\n", "r.toml");
  CHECK(recipe_line(r, "rootfs.suite") == 2);
  CHECK(recipe_line(r, "rootfs.packages#0") == 4);
  CHECK(recipe_line(r, "rootfs.packages#1") == 5);
  CHECK(recipe_line(r, "kernel.package") == 0);  // a default
}
