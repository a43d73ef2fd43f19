#include <doctest/doctest.h>

#include <algorithm>

#include "error.h"
#include "fsutil.h"
#include "kernel_check.h"

using namespace grappe::build;

TEST_CASE("requirements: met, missing, wrong value") {
  auto reqs = parse_requirements("# c\nCONFIG_A=y  # needed for a\nCONFIG_B=y|m\nCONFIG_C=y\n", "req");
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[1].accepted == std::vector<std::string>{"y", "m"});
  auto cfg = parse_kconfig("CONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\n");
  CHECK(unmet_requirements(reqs, cfg).empty() == false);
  auto unmet = unmet_requirements(reqs, cfg);
  REQUIRE(unmet.size() == 1);
  CHECK(unmet[0] == "CONFIG_C is not set, needs y");
  cfg["CONFIG_A"] = "m";
  unmet = unmet_requirements(reqs, cfg);
  REQUIRE(unmet.size() == 2);
  CHECK(unmet[0] == "CONFIG_A is m, needs y (needed for a)");
}

TEST_CASE("a malformed requirements line is an error with its line number") {
  CHECK_THROWS_WITH_AS(parse_requirements("CONFIG_A=y\nCONFIG_B=maybe\n", "kernel/requirements"),
                       doctest::Contains("bad line 2 in kernel/requirements"), Error);
}

TEST_CASE("the shipped requirements parse and name the migration options") {
  auto reqs = parse_requirements(read_file(std::string(GRAPPE_SOURCE_DIR) + "/kernel/requirements"), "req");
  std::vector<std::string> names;
  for (const auto& r : reqs) names.push_back(r.option);
  for (const char* must : {"CONFIG_CHECKPOINT_RESTORE", "CONFIG_MEM_SOFT_DIRTY", "CONFIG_USERFAULTFD", "CONFIG_PID_NS",
                           "CONFIG_NET_NS", "CONFIG_IPC_NS", "CONFIG_UTS_NS", "CONFIG_SQUASHFS", "CONFIG_OVERLAY_FS",
                           "CONFIG_ISO9660_FS", "CONFIG_NFS_FS", "CONFIG_NFSD", "CONFIG_VIRTIO_PCI",
                           "CONFIG_INET_DIAG", "CONFIG_UNIX_DIAG", "CONFIG_NETLINK_DIAG"})
    CHECK_MESSAGE(std::find(names.begin(), names.end(), must) != names.end(), must);
}
