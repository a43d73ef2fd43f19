// The seam in front of the system commands grapped runs (exportfs, mount, systemctl): tests give
// a fake that records the commands and answers as told.
#pragma once
#include <string>
#include <vector>

namespace grappe {

struct CommandResult {
  int status = -1;     // exit status; -1 when it could not run or timed out
  std::string output;  // stdout and stderr together (the first 64 KiB)
};

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  virtual CommandResult run(const std::vector<std::string>& argv, double timeout_s) = 0;
};

// Runs argv; "" when it exited 0, else "'CMD' failed (status N): FIRST LINE OF ITS OUTPUT".
// `out` (when given) receives its output either way.
std::string run_checked(CommandRunner& run, const std::vector<std::string>& argv, double timeout_s,
                        std::string* out = nullptr);

// Runs the command with fork/exec, no shell; kills it (SIGKILL) at the timeout.
class ProcessRunner final : public CommandRunner {
 public:
  CommandResult run(const std::vector<std::string>& argv, double timeout_s) override;
};

}  // namespace grappe
