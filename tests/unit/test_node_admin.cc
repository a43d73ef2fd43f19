#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "balance/balancer.h"
#include "balance/node_admin.h"

using namespace grappe;

TEST_CASE("node admin: toggles, speed and maxguests, with clear errors") {
  NodeAdmin a;
  std::string err;
  CHECK(a.apply("block", "", err));
  CHECK(a.apply("lstay", "", err));
  CHECK(a.flags == (kFlagBlock | kFlagLstay));
  CHECK(flags_text(a.flags) == "block,lstay");
  CHECK(a.apply("unblock", "", err));
  CHECK(a.apply("stay", "", err));
  CHECK(a.flags == (kFlagLstay | kFlagStay));
  CHECK(a.apply("nolstay", "", err));
  CHECK(a.apply("nostay", "", err));
  CHECK(a.flags == 0);
  CHECK(flags_text(0) == "-");
  CHECK(a.apply("speed", "1500", err));
  CHECK(a.speed == 1500);
  CHECK(a.apply("maxguests", "2", err));
  CHECK(a.max_guests == 2);
  CHECK(a.apply("maxguests", "none", err));
  CHECK(a.max_guests == -1);

  NodeAdmin before = a;
  CHECK_FALSE(a.apply("speed", "fast", err));
  CHECK(err.find("'fast'") != std::string::npos);
  CHECK_FALSE(a.apply("maxguests", "-3", err));
  CHECK_FALSE(a.apply("block", "1", err));
  CHECK(err.find("takes no value") != std::string::npos);
  CHECK_FALSE(a.apply("frobnicate", "", err));
  CHECK(err.find("block|unblock") != std::string::npos);
  CHECK(a.to_json() == before.to_json());  // a refused setting changes nothing
}

TEST_CASE("node admin: who is admitted") {
  NodeAdmin a;
  CHECK(a.admit(false, 10).empty());
  a.flags = kFlagBlock;
  CHECK(a.admit(false, 0).find("refuses guests") != std::string::npos);
  CHECK(a.admit(true, 0).empty());  // a job coming home is never refused
  a.flags = 0;
  a.max_guests = 1;
  CHECK(a.admit(false, 0).empty());
  CHECK(a.admit(false, 1).find("limit") != std::string::npos);
  CHECK(a.admit(true, 5).empty());
}

TEST_CASE("node admin: saved and loaded, bad files named") {
  const std::string dir = "/tmp/grappe-test-admin-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  const std::string path = dir + "/admin.json";
  CHECK(load_node_admin(path).to_json() == NodeAdmin{}.to_json());  // missing: defaults
  NodeAdmin a;
  a.flags = kFlagBlock | kFlagStay;
  a.speed = 700;
  a.max_guests = 3;
  save_node_admin(path, a);
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  NodeAdmin b = load_node_admin(path);
  CHECK(b.flags == a.flags);
  CHECK(b.speed == 700);
  CHECK(b.max_guests == 3);
  std::ofstream(path) << R"({"block": "yes"})";
  try {
    load_node_admin(path);
    FAIL("a bad file was accepted");
  } catch (const std::exception& e) {
    std::string m = e.what();
    CHECK(m.find(path) != std::string::npos);
    CHECK(m.find("\"block\"") != std::string::npos);
    CHECK(m.find("remove the file") != std::string::npos);
  }
  std::ofstream(path) << "{not json";
  CHECK_THROWS(load_node_admin(path));
  std::filesystem::remove_all(dir);
}
