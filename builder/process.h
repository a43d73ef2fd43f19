// The seam in front of child processes: stages run tools through a ProcessRunner, so tests can
// substitute a fake that records commands instead of running mmdebstrap or xorriso.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace grappe::build {

struct RunOptions {
  std::string log_path;                      // stdout+stderr are appended here (empty: discarded)
  std::string cwd;                           // empty: inherit
  std::map<std::string, std::string> env;    // added to (or overriding) the environment
  std::function<void(const std::string&)> on_line;  // each output line ('\n' or '\r' ended)
  std::string stdin_path;                    // empty: /dev/null
  std::string stdout_path;                   // non-empty: stdout goes here, stderr to the log
};

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // Runs argv[0] (searched in PATH) and returns its exit status (128+N when killed by signal N).
  virtual int run(const std::vector<std::string>& argv, const RunOptions& opt) = 0;
  // Runs and returns stdout; throws build::Error when the command fails.
  virtual std::string capture(const std::vector<std::string>& argv) = 0;
};

class RealProcessRunner final : public ProcessRunner {
 public:
  int run(const std::vector<std::string>& argv, const RunOptions& opt) override;
  std::string capture(const std::vector<std::string>& argv) override;
};

std::string join_argv(const std::vector<std::string>& argv);

// SIGINT/SIGTERM/SIGHUP: every running child gets SIGTERM (so mmdebstrap, mksquashfs and QEMU
// clean up), its failure unwinds the build, and temporary outputs are removed.
void forward_termination_signals();
bool termination_requested();
// The signal that asked for it (SIGINT, SIGTERM, SIGHUP), 0 when none: the exit status is 128 + it.
int termination_signal();
// Another stage failed: every running child gets SIGTERM and every run() from now on throws
// ("stopped"), until stop_children(false). Stages run in parallel (pipeline.h).
void stop_children(bool stop);

}  // namespace grappe::build
