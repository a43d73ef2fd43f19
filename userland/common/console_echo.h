// A node's announcements ("grappe: node ready …", "founded/joined cluster …") on every console
// the kernel was given, not only on /dev/console. The kernel sends /dev/console to the last
// console= alone, so with the screen first (every boot entry but "serial": console=ttyS0
// console=tty0) lines printed there would never reach the serial port that scripts and
// `grappe-build console` read.
#pragma once
#include <string>
#include <vector>

namespace grappe {

// The consoles besides /dev/console, as names under dev/: every entry of
// sys/class/tty/console/active but the last (the kernel lists /dev/console's last). A port whose
// UART the kernel did not find (sys/class/tty/NAME/type is 0) is left out. `root` is "/" on a node.
std::vector<std::string> other_consoles(const std::string& root);

// Writes `line` (a '\n' is added) to each of other_consoles(root): opened non-blocking and without
// becoming a controlling terminal, so a busy, flow-controlled or vanished port is skipped, never
// waited for. Only on a Grappe node (root/run/grappe/identity exists, written by grappe-init), so
// grapped run by hand or by the tests on another machine never writes to that machine's consoles.
// Returns the consoles written to.
std::vector<std::string> echo_to_other_consoles(const std::string& line, const std::string& root = "/");

}  // namespace grappe
