// `grappe-build console --node N` without a command: the terminal attached to the node's serial
// console (its root shell), in raw mode, until Ctrl-] (like `virsh console`).
#pragma once
#include <filesystem>
#include <string_view>

namespace grappe::build {

constexpr char kDetachKey = 0x1d;  // Ctrl-]

// How much of `typed` goes to the node: everything before the first Ctrl-], or all of it.
// `detach` says whether a Ctrl-] came.
size_t typed_to_send(std::string_view typed, bool& detach);

// Relays `in_fd` to the console at `sock` and the console to `out_fd` until Ctrl-] on `in_fd`
// (returns 0), or the end of `in_fd`'s input once the node has been quiet for a second (returns
// 0: input from a pipe). A terminal on `in_fd` is put in raw mode (Ctrl-C and the rest go to the
// node) and restored on every exit. Throws Error when no VM answers on `sock` within
// `write_timeout_s` (it waits for one still starting), when the console closes, when typed text
// cannot be delivered within `write_timeout_s` (nothing reads the serial port), or on
// SIGINT/SIGTERM.
int attach_console(const std::filesystem::path& sock, double write_timeout_s, int in_fd = 0, int out_fd = 1);

}  // namespace grappe::build
