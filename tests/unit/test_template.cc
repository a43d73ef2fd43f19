#include <doctest/doctest.h>

#include "bootmenu.h"
#include "error.h"
#include "recipe.h"
#include "stages.h"

using namespace grappe::build;

TEST_CASE("templates substitute known placeholders and reject unknown ones") {
  CHECK(render_template("a @X@ b @Y@@X@", {{"X", "1"}, {"Y", "2"}}, "t") == "a 1 b 21");
  CHECK(render_template("user@example.org", {}, "t") == "user@example.org");
  CHECK_THROWS_WITH_AS(render_template("@NOPE@", {}, "iso/x.in"), doctest::Contains("@NOPE@"), Error);
}

TEST_CASE("boot menu: four entries, each naming this build; serial, debug and serve differ as documented") {
  Recipe r;
  r.volume_label = "GRAPPE";
  r.cmdline = "mitigations=off";
  auto es = boot_entries(r, "0123456789abcdef");
  REQUIRE(es.size() == 4);
  CHECK(es[0].id == "node");
  CHECK(es[1].id == "debug");
  CHECK(es[2].id == "serial");
  CHECK(es[3].id == "serve");
  for (const auto& e : es) {
    CHECK(e.cmdline.find("grappe.label=GRAPPE grappe.build=0123456789abcdef") == 0);
    CHECK(e.cmdline.find("mitigations=off") != std::string::npos);
  }
  CHECK(es[0].cmdline.find("quiet") != std::string::npos);
  CHECK(es[1].cmdline.find("grappe.debug") != std::string::npos);
  // Every entry: both consoles, so every image can be driven headless through ttyS0; the last
  // one is /dev/console: the screen, except for the serial entry.
  for (const auto& e : es) {
    CAPTURE(e.id);
    const size_t screen = e.cmdline.find("console=tty0"), serial = e.cmdline.find("console=ttyS0,115200n8");
    REQUIRE(screen != std::string::npos);
    REQUIRE(serial != std::string::npos);
    CHECK((e.id == "serial" ? serial > screen : screen > serial));
  }
  CHECK(es[3].cmdline.find(" grappe.serve") != std::string::npos);  // read by grappe-serve-boot.service
  CHECK(es[3].title == "Grappe node + serve network boot");
  for (int i = 0; i < 3; ++i) CHECK(es[i].cmdline.find("grappe.serve") == std::string::npos);
}
