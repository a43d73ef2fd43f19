#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/console_echo.h"
#include "common/text_file.h"

namespace fs = std::filesystem;
using namespace grappe;

namespace {
struct FakeRoot {
  fs::path r = fs::temp_directory_path() / ("grappe-console-echo-" + std::to_string(::getpid()));
  FakeRoot() {
    fs::remove_all(r);
    for (const char* d : {"sys/class/tty/console", "sys/class/tty/ttyS0", "sys/class/tty/ttyS1", "sys/class/tty/tty0", "dev"})
      fs::create_directories(r / d);
    std::ofstream(r / "sys/class/tty/ttyS0/type") << "4\n";  // a 16550A
    std::ofstream(r / "sys/class/tty/ttyS1/type") << "0\n";  // PORT_UNKNOWN: no UART there
    for (const char* d : {"ttyS0", "ttyS1", "tty0"}) std::ofstream(r / "dev" / d);
  }
  ~FakeRoot() { fs::remove_all(r); }
  void active(const std::string& text) { std::ofstream(r / "sys/class/tty/console/active") << text; }
  std::string dev(const std::string& n) { return read_text((r / "dev" / n).string()); }
};
}  // namespace

TEST_CASE("console echo: the consoles besides /dev/console (the last listed), real UARTs only") {
  FakeRoot f;
  f.active("ttyS1 ttyS0 tty0\n");  // screen first: console=ttyS1 console=ttyS0 console=tty0
  CHECK(other_consoles(f.r.string()) == std::vector<std::string>{"ttyS0"});
  f.active("tty0 ttyS0\n");  // the serial entry: ttyS0 is /dev/console, the screen is the other
  CHECK(other_consoles(f.r.string()) == std::vector<std::string>{"tty0"});
  f.active("tty0\n");
  CHECK(other_consoles(f.r.string()).empty());
  f.active("");
  CHECK(other_consoles(f.r.string()).empty());
  fs::remove(f.r / "sys/class/tty/console/active");
  CHECK(other_consoles(f.r.string()).empty());
}

TEST_CASE("console echo: writes the line to the other consoles, only on a Grappe node") {
  FakeRoot f;
  f.active("ttyS0 tty0\n");
  CHECK(echo_to_other_consoles("grappe: node ready name=a", f.r.string()).empty());  // not a node: no identity
  CHECK(f.dev("ttyS0").empty());
  fs::create_directories(f.r / "run/grappe");
  std::ofstream(f.r / "run/grappe/identity") << "mac=52:54:00:67:72:01\n";
  CHECK(echo_to_other_consoles("grappe: node ready name=a", f.r.string()) == std::vector<std::string>{"ttyS0"});
  CHECK(f.dev("ttyS0") == "grappe: node ready name=a\n");
  CHECK(f.dev("tty0").empty());  // /dev/console's own: the service's stdout already has it
  fs::remove(f.r / "dev/ttyS0");  // a console that cannot be opened is skipped
  CHECK(echo_to_other_consoles("x", f.r.string()).empty());
}
