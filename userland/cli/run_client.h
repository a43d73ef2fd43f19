// The client side of `grappe run`: sends the command with the caller's environment and working
// directory, then relays the job's output to this terminal, forwards stdin and signals (Ctrl-C,
// SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2) to the job, and returns the job's exit status.
#pragma once
#include <string>
#include <vector>

namespace grappe {

struct RunOptions {
  std::vector<std::string> argv;
  bool detach = false;
  bool stay = false;
  int node = 0;
  bool forward_stdin = true;
};

// Returns the exit status to leave with: the job's, or 255 when the daemon could not be asked or
// went away (the message says which and what to do).
int run_job(const std::string& socket, const RunOptions& opt);

}  // namespace grappe
