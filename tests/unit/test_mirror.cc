#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "error.h"
#include "mirror.h"

namespace fs = std::filesystem;
using namespace grappe::build;

TEST_CASE("one-line sources: first Debian archive, options skipped, security ignored") {
  CHECK(mirror_from_sources("# c\ndeb http://sec.example/debian-security bookworm-security main\n"
                            "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian/ bookworm main\n",
                            false) == "http://m.example/debian/");
  CHECK(mirror_from_sources("deb-src http://m.example/debian bookworm main\n", false) == "");
}

TEST_CASE("deb822 sources") {
  std::string text =
      "Types: deb\nURIs: http://m.example/debian-security\nSuites: bookworm-security\n\n"
      "Types: deb deb-src\nURIs: http://m.example/debian\nSuites: bookworm\nComponents: main\n";
  CHECK(mirror_from_sources(text, true) == "http://m.example/debian");
}

TEST_CASE("host mirror scanning and precedence") {
  fs::path etc = fs::temp_directory_path() / "grappe-mirror-test";
  fs::remove_all(etc);
  fs::create_directories(etc / "apt/sources.list.d");
  CHECK(host_mirror(etc.string()).empty());
  ::unsetenv("GRAPPE_MIRROR");
  CHECK_THROWS_AS(choose_mirror("", "", etc.string()), Error);
  std::ofstream(etc / "apt/sources.list.d/debian.sources") << "Types: deb\nURIs: http://host.example/debian\nSuites: x\n";
  CHECK(host_mirror(etc.string()) == "http://host.example/debian");
  CHECK(choose_mirror("", "", etc.string()) == "http://host.example/debian");
  CHECK(choose_mirror("", "http://recipe.example/debian", etc.string()) == "http://recipe.example/debian");
  ::setenv("GRAPPE_MIRROR", "http://env.example/debian", 1);
  CHECK(choose_mirror("", "http://recipe.example/debian", etc.string()) == "http://env.example/debian");
  CHECK(choose_mirror("http://cli.example/debian", "", etc.string()) == "http://cli.example/debian");
  ::unsetenv("GRAPPE_MIRROR");
  fs::remove_all(etc);
}
