#include "common/console_echo.h"

#include <fcntl.h>
#include <unistd.h>

#include <sstream>

#include "common/fd_io.h"
#include "common/text_file.h"

namespace grappe {

std::vector<std::string> other_consoles(const std::string& root) {
  const std::string sys = root + "/sys/class/tty/";
  std::istringstream in(read_text(sys + "console/active"));
  std::vector<std::string> names;
  for (std::string n; in >> n;) names.push_back(n);
  if (!names.empty()) names.pop_back();  // /dev/console's own: it already has the line
  std::vector<std::string> out;
  for (const auto& n : names) {
    if (n.empty() || n.find('/') != std::string::npos || n[0] == '.') continue;
    const auto type = try_read_file(sys + n + "/type");  // only serial ports have one
    if (type && type->substr(0, type->find('\n')) == "0") continue;  // PORT_UNKNOWN: no UART
    out.push_back(n);
  }
  return out;
}

std::vector<std::string> echo_to_other_consoles(const std::string& line, const std::string& root) {
  std::vector<std::string> wrote;
  if (::access((root + "/run/grappe/identity").c_str(), F_OK) != 0) return wrote;
  const std::string text = line + "\n";
  for (const auto& n : other_consoles(root)) {
    const int fd = ::open((root + "/dev/" + n).c_str(), O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    if (write_all(fd, text)) wrote.push_back(n);
    ::close(fd);
  }
  return wrote;
}

}  // namespace grappe
