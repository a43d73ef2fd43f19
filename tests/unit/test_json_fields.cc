#include <doctest/doctest.h>

#include "common/json_fields.h"

using namespace grappe;
using nlohmann::json;

TEST_CASE("Fields: typed reads of untrusted JSON never throw and name the field") {
  json j = {{"cmd", "run"}, {"sig", 9}, {"all", true}, {"argv", {"a", "b"}}, {"x", 1.5}, {"o", {{"k", 1}}}};
  Fields f(j, "run");
  CHECK(f.str("cmd") == "run");
  CHECK(f.integer("sig", 15, 1, 64) == 9);
  CHECK(f.boolean("all", false));
  CHECK(f.strings("argv") == std::vector<std::string>{"a", "b"});
  CHECK(f.number("x", 0) == 1.5);
  CHECK(f.object("o")["k"] == 1);
  CHECK(f.str("absent", "d") == "d");
  CHECK(f.ok());

  SUBCASE("wrong types") {
    for (auto [key, bad] : std::vector<std::pair<const char*, json>>{
             {"cmd", 1}, {"cmd", json::array()}, {"cmd", true}, {"cmd", json::object()}}) {
      const json r = {{key, bad}};
      Fields g(r, "req");
      CHECK(g.str(key) == "");
      CHECK_FALSE(g.ok());
      CHECK(g.error() == "req: \"cmd\" must be a string");
    }
    const json r = {{"sig", "9"}, {"all", 1}, {"argv", {1, 2}}};
    Fields g(r);
    g.integer("sig", 15, 1, 64);
    g.boolean("all", false);
    g.strings("argv");
    CHECK(g.error() == "request: \"sig\" must be an integer from 1 to 64");  // the first error wins
  }
  SUBCASE("ranges, floats and huge numbers") {
    const json r65 = {{"n", 65}}, r3 = {{"n", 3.0}}, r35 = {{"n", 3.5}}, rmax = {{"n", 18446744073709551615ull}},
               rneg = {{"n", -1e300}};
    Fields z(r65);
    CHECK(z.integer("n", 0, 1, 64) == 0);
    Fields a(r3);
    CHECK(a.integer("n", 0, 1, 64) == 3);
    CHECK(a.ok());
    Fields b(r35);
    b.integer("n", 0, 1, 64);
    CHECK_FALSE(b.ok());
    Fields c(rmax);
    CHECK(c.integer("n", 0, 0, 10) == 0);
    CHECK_FALSE(c.ok());
    Fields d(rneg);
    d.integer("n", 0, 0, 10);
    CHECK_FALSE(d.ok());
  }
  SUBCASE("required and null") {
    const json r = {{"job", nullptr}};
    Fields g(r);
    CHECK_FALSE(g.has("job"));
    g.str("job", "", Need::Required);
    CHECK(g.error() == "request: \"job\" is missing");
  }
  SUBCASE("not an object") {
    for (const json& bad : {json(1), json("x"), json::array(), json(nullptr)}) {
      Fields g(bad, "frame");
      CHECK(g.str("cmd", "d") == "d");
      CHECK(g.error() == "frame: expected a JSON object");
    }
  }
  SUBCASE("limits") {
    const json r = {{"s", std::string(20, 'x')}, {"a", json::array({"1", "2", "3"})}};
    Fields g(r);
    g.str("s", "", Need::Optional, 10);
    CHECK(g.error() == "request: \"s\" is longer than 10 bytes");
    Fields h(r);
    h.strings("a", Need::Optional, 2);
    CHECK_FALSE(h.ok());
  }
}

TEST_CASE("dump_safe repairs invalid UTF-8 instead of throwing") {
  json j = {{"error", std::string("bad \xff\xfe name")}};
  CHECK_THROWS(j.dump());
  CHECK(dump_safe(j) == "{\"error\":\"bad \xef\xbf\xbd\xef\xbf\xbd name\"}");
}
