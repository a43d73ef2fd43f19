// `grappe-build console`: runs one shell command on a QEMU node started by `grappe-build qemu`,
// through its serial console (a UNIX socket next to the serial log, with root logged in on it),
// and returns the command's output and exit status. Scripts and tests drive a cluster with it.
#pragma once
#include <filesystem>
#include <string>

namespace grappe::build {

// The exact text typed for `cmd`, bracketed by markers built from `token` that the typed text
// itself never contains (printf assembles them), so echo and console noise are told apart.
std::string console_script(const std::string& cmd, const std::string& token);
// Finds the command's output and status in what the console printed. False while incomplete.
bool console_parse(const std::string& seen, const std::string& token, std::string& output, int& status);

// The kernel's own account of a panic seen on the console ("Oops: …" and "Kernel panic - not
// syncing: …", without timestamps), once the kernel has finished printing it; "" otherwise. A
// panicked node never answers, so waiting for the command's end marker is pointless.
std::string console_panic(const std::string& seen);

// A non-blocking connection to a node's console socket (the caller closes it). Waits, until
// `deadline` (now_s()) and for 30 s at most, for a socket not there yet or not yet listened on: a
// VM still starting.
// Throws Error naming the socket when none answers by then.
int connect_console(const std::filesystem::path& sock, double deadline);

// Connects to `sock`, waits for the shell to answer, runs `cmd`; throws Error on timeout or on a kernel panic.
int run_console(const std::filesystem::path& sock, const std::string& cmd, double timeout_s, std::string& output);

}  // namespace grappe::build
