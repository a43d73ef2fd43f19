// Runs the stages, each as soon as the stages it reads are done: stages that do not depend on each
// other build at the same time (the rootfs alongside the SDK and the userland compile). Each stage
// has a content key over all its inputs; its output lives at a path derived from that key, is
// produced under a temporary name and renamed into place only when complete, so an interrupted
// build is resumed, never trusted half-done. When one stage fails, the others running are stopped
// (their tools get SIGTERM) and their temporaries removed.
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "context.h"

namespace grappe::build {

struct Stage {
  std::string name;
  // The stages whose keys, outputs or adopted facts this one reads (they must come earlier in
  // the list). Unset: every earlier stage, i.e. strictly in order.
  std::optional<std::vector<std::string>> after;
  // The cache key: a hash of every input (may use keys of earlier stages).
  std::function<std::string(BuildContext&)> key;
  // Where the output lives for a given key. Default: <cache>/<name>-<key[0:16]>.
  std::function<std::filesystem::path(BuildContext&, const std::string&)> output;
  // Produces the output at `tmp` (a path that does not exist yet); `log` is the stage log.
  std::function<void(BuildContext&, const std::filesystem::path& tmp, const std::string& log)> build;
  // Reads what later stages need from the finished output (also when it was cached) and
  // returns a one-line summary for the build log (may be empty).
  std::function<std::string(BuildContext&, const std::filesystem::path& out)> adopt;
  // Niceness added to the stage's build thread (on top of the build's own, at most 19), inherited
  // by every tool it starts. Stages beside the usual critical path (the SDK and compile chain) add
  // 5, so that the compile gets the larger share of the cores when both want them (10 starved the
  // rootfs into the critical path: a cold default build took 155.6 s, against 141.8 s with none);
  // alone they go at full speed.
  int nice = 0;
};

struct StageReport {
  std::string name;
  bool cached = false;
  double seconds = 0;
};

class Pipeline {
 public:
  explicit Pipeline(std::vector<Stage> stages) : stages_(std::move(stages)) {}
  // Runs every stage, at most `parallel` builds at once; on failure prints the stage name and the
  // last lines of its log and rethrows. Returns one report per stage, in the stages' order.
  std::vector<StageReport> run(BuildContext& ctx, int parallel = 3);

 private:
  std::vector<Stage> stages_;
};

// Keeps, per stage, the current cache entry and the `keep` most recent others; removes the rest
// (the userland build trees, `userland-build-<sdk key>`, count as the SDK's).
void prune_cache(const std::filesystem::path& cache, const std::map<std::string, std::string>& current_keys,
                 int keep = 1);
// Lines at the end of a log file, for failure messages.
std::string log_tail(const std::string& path, int lines);
// Deletes temporary outputs left by an interrupted earlier build (".*.tmp-<pid>" of dead pids).
void clean_stale_temporaries(const std::filesystem::path& dir);

}  // namespace grappe::build
