// The image manifest: installed packages from dpkg-query's output (only "ii" lines, malformed ones
// left out), and the manifest of a build from its context, through a fake process runner.
#include <doctest/doctest.h>

#include "manifest.h"

using namespace grappe::build;

namespace {
struct DpkgRunner : ProcessRunner {
  std::string out;
  std::vector<std::string> argv;
  int run(const std::vector<std::string>&, const RunOptions&) override { return 0; }
  std::string capture(const std::vector<std::string>& a) override {
    argv = a;
    return out;
  }
};
}  // namespace

TEST_CASE("manifest: installed packages with versions; removed, half-installed and malformed lines left out") {
  const std::string out =
      "ii \tbash\t5.2.37-2\tamd64\n"
      "rc \told-lib\t1.0\tamd64\n"
      "ii \tlinux-image-6.12.48+deb13-amd64\t6.12.48-1\tamd64\n"
      "iU \thalf\t2\tamd64\n"
      "ii \tbroken-line\n"
      "ii \t\t1\tamd64\n"
      "\n";
  auto p = installed_packages(out);
  REQUIRE(p.size() == 2);
  CHECK(p[0] == nlohmann::json{{"name", "bash"}, {"version", "5.2.37-2"}, {"arch", "amd64"}});
  CHECK(p[1]["name"] == "linux-image-6.12.48+deb13-amd64");
  CHECK(p[1]["version"] == "6.12.48-1");
  CHECK(installed_packages("").empty());
}

TEST_CASE("manifest: a build's recipe hash, build id and packages from the rootfs's dpkg database") {
  DpkgRunner run;
  run.out = "ii \tbash\t5.2\tamd64\n";
  BuildContext ctx;
  ctx.runner = &run;
  ctx.outputs["rootfs"] = "/cache/rootfs-1";
  ctx.build_id = "b1";
  ctx.recipe_sha256 = "r1";
  ctx.kernel_version = "6.12";
  auto m = image_manifest(ctx);
  CHECK(m["build_id"] == "b1");
  CHECK(m["recipe_sha256"] == "r1");
  CHECK(m["kernel"] == "6.12");
  CHECK(m["packages"].size() == 1);
  CHECK(run.argv.at(1) == "--admindir=/cache/rootfs-1/var/lib/dpkg");
  run.out = "";  // no package at all: the rootfs is not what it should be
  CHECK_THROWS_WITH(image_manifest(ctx), doctest::Contains("cannot list the root filesystem's packages"));
}
