// How long jobs of a command run, MOSIX-style: the work (reference CPU-seconds: CPU time × this
// node's speed / 1000) of finished jobs, per command, so the balancer can tell how much work a
// running job still has ahead instead of guessing it from its age. Only jobs that ended on their
// home node without ever moving, and were neither signalled nor crashed, are recorded: their CPU time there is all their work (CRIU does
// not carry CPU time across a move). Kept in /var/lib/grappe/history.json, bounded (64 commands,
// the last 16 runs of each; the command recorded least recently goes first), written atomically
// through the TextStore seam. The file is untrusted: a wrong entry is dropped, never thrown.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "common/text_store.h"

namespace grappe {

// The command a job counts as: argv[0]'s base name; for a wrapper or interpreter (sh, bash,
// python3, env, nice, …) also the first word of its first non-option argument, so `sh -c "lame …"`
// and `python3 enc.py` are told apart. At most 200 bytes.
std::string command_key(const std::vector<std::string>& argv);

class JobHistory {
 public:
  static constexpr size_t kCommands = 64, kRuns = 16, kMinRuns = 2;

  void record(const std::string& key, double work_s);
  // Expected work still ahead of a job of `key` that has done `done_s`, on the cautious side:
  // the lower quartile of what the recorded runs longer than `done_s` had left at that point (the
  // shortest of them with up to 4). A command's runs differ with their arguments; a move costs
  // seconds and cannot be taken back, so the estimate leans toward the shorter runs: it may miss
  // a move that would have paid, not make one that cannot. 0 when it is past every recorded
  // run but within 1.5× the longest (it should end any moment); -1 (unknown: the caller falls back
  // to the job's age) with fewer than kMinRuns runs or past 1.5× the longest.
  double left(const std::string& key, double done_s) const;
  size_t runs(const std::string& key) const;

  std::string dump() const;
  // Replaces the contents with what `text` holds; bad entries are skipped. Returns "" or what
  // was wrong (the usable part is kept).
  std::string load(const std::string& text);
  std::string load_file(const TextStore& store, const std::string& path);  // a missing file: ""
  std::string save_file(TextStore& store, const std::string& path) const;

 private:
  struct Entry {
    std::deque<double> runs;
    uint64_t used = 0;  // recorded at this sequence number (eviction order)
  };
  void add(const std::string& key, double work_s);
  std::map<std::string, Entry> by_;
  uint64_t seq_ = 0;
};

}  // namespace grappe
