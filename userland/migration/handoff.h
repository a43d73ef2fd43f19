// The two-phase migration handoff, as two procedures over seams so every step can fail in tests:
// a PeerLink (the authenticated stream to the other grapped) and a Checkpointer (CRIU).
//
// source (job's node)                          target
//   Offer{job}                       ──►        fits? (memory, guests, CRIU)
//                                    ◄──        Accept | Refuse{why}
//   pre-copy only, job running: per round N, a CRIU pre-dump, then
//   File{name,size,dir:"pre-N"} + Data…  ──►    store them under pre-N/
//   CRIU dump, job frozen; in the post-dump hold:
//   File{name,size} + Data…, Commit{parent}  ──►  store images (bounded, names checked); link
//                                               the pre-dumps (parent → pre-N → … → pre-0)
//                                               restore, tasks left STOPPED
//                                    ◄──        Restored | Failed{why}
//   hold returns: Restored → CRIU ends the source; anything else (refusal, error, timeout,
//   broken link) → CRIU thaws the source and the job goes on where it was.
//   Go                               ──►        SIGCONT: the job runs on the target
//   (or Abort after a thaw)          ──►        kill the stopped copy
// The target never lets its copy run before Go, and the source never thaws after Restored
// unless its CRIU hold failed, in which case it never sent Go: so a job never runs twice. A
// target left holding a stopped copy without Go or Abort (link lost at that point) reports
// Pending; the daemon resolves it: Go if the source's copy is gone, Abort if it runs.
// Every meta read from the peer is type-checked (peer_meta.h): a malformed one fails the handoff
// with the field named. Received images are private (image_dir.h: directories 0700, files 0600).
#pragma once
#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace grappe {

struct Frame {
  std::string kind;     // offer, accept, refuse, file, data, commit, restored, failed, go, abort
  nlohmann::json meta;  // small JSON header
  std::string data;     // payload of "data" frames
};

class PeerLink {
 public:
  virtual ~PeerLink() = default;
  virtual bool send(const Frame& f) = 0;                           // false: the link is broken
  virtual std::optional<Frame> recv(double timeout_s) = 0;        // nullopt: broken or timed out
  // recv() into `f`, reusing its buffers (image streams: no fresh megabyte per frame); false as
  // recv() returns nullopt.
  virtual bool recv_into(Frame& f, double timeout_s) {
    auto r = recv(timeout_s);
    if (r) f = std::move(*r);
    return r.has_value();
  }
};

struct DumpResult {
  bool ok = false;  // dump: the source tasks are gone (dumped and killed after a successful hold);
                    // pre-dump: the images are written and the tasks run on
  std::string error;
  double frozen_at = 0;  // steady-clock seconds when the tasks were frozen (0: not known)
};
struct RestoreResult {
  pid_t pid = -1;  // the restored namespace init, held before it runs again
  std::string error;
  int in = -1, out = -1, err = -1;  // grapped's ends of the job's new stdio pipes (-1: none)
};

class Checkpointer {
 public:
  virtual ~Checkpointer() = default;
  // Dumps the tree rooted at `pid` into `dir`. `hold` runs while the tasks are frozen after the
  // dump: true ends them, false thaws them (and the dump reports failure). `parent` (relative to
  // `dir`; empty: none) names the last pre-dump: pages unchanged since then are not written again.
  virtual DumpResult dump(pid_t pid, const std::string& dir, const std::string& parent,
                          const std::function<bool()>& hold) = 0;
  // Pre-copy: writes the tree's memory into `dir` (only the pages dirtied since `parent`, when
  // given) and lets it run on; memory changes are tracked from then on.
  virtual DumpResult pre_dump(pid_t, const std::string&, const std::string&) {
    return {false, "this node cannot pre-dump", 0};
  }
  // Restores the tree dumped in `dir` (the job's offer says which stdio pipes to recreate) and
  // holds it before it runs again; then exactly one of resume() (let it run) or discard() (kill it).
  virtual RestoreResult restore(const std::string& dir, const nlohmann::json& job) = 0;
  virtual bool resume(pid_t pid) = 0;
  virtual void discard(pid_t pid) = 0;
};

// When iterative pre-dumps stop and the final dump follows.
struct PreCopyPolicy {
  int max_rounds = 4;
  uint64_t small_bytes = 8ull << 20;  // a round that wrote this little: the dirty set is small
  double min_shrink = 0.7;            // a round over this share of the previous: it stopped shrinking
  // Before the first round: the share of its resident pages the job writes in probe_s seconds
  // (-1: unknown; grapped reads soft-dirty bits, dirty_probe.h). At skip_share or more, no round
  // could shrink what is finally frozen, so pre-copy is skipped instead of slowing the job.
  std::function<double(pid_t, double)> dirty_share;
  double probe_s = 0.5;
  double skip_share = 0.7;
};

struct HandoffLimits {
  double reply_timeout_s = 30;                    // any single answer from the peer
  double restore_timeout_s = 300;                 // the target's restore
  uint64_t max_image_bytes = 64ull << 30;         // target refuses more
  size_t chunk = 1 << 20;                         // data frame size
  PreCopyPolicy precopy;
  // Source, right before the final dump: returns what undoes it if the job stays (grapped raises
  // the job's priority for the dump, dump_priority.h). Target, once the tasks are restored and
  // held: `restored` (grapped puts back the nice value the offer carries).
  std::function<std::function<void()>(pid_t)> before_dump;
  std::function<void(pid_t, const nlohmann::json& job)> restored;
  // Target, once every image is in and before anything is restored: "" or why the images may not
  // be restored (grapped: their credentials differ from the offer's, image_creds.h). The source
  // is told why and resumes the job.
  std::function<std::string(const std::string& dir, const nlohmann::json& job)> vet_images;
};

enum class SourceOutcome { Stayed, Moved, MovedGoPending };
struct SourceResult {
  SourceOutcome outcome = SourceOutcome::Stayed;
  std::string why;        // for Stayed: what failed
  uint64_t bytes = 0;     // image bytes sent while the job was frozen
  double freeze_s = 0;    // time from the freeze (the dump) to the hold's answer
  double dump_s = 0;      // of which CRIU writing the final images
  int precopy_rounds = 0;       // pre-dumps sent while the job ran
  uint64_t precopy_bytes = 0;   // their image bytes
  std::string precopy_note;     // why pre-copy stopped early or was skipped ("" when it went to plan)
};

inline SourceResult stayed(std::string why) {
  SourceResult r;
  r.why = std::move(why);
  return r;
}

// Moves `pid` (the job described by `job`) to the peer. Files are read from the dump directory.
// With job["precopy"] true, pre-dumps of the running job go first (into <dump_dir>/pre-N, sent as
// such), until a round is small or stops shrinking; the final dump then holds only what changed.
SourceResult migrate_out(const nlohmann::json& job, pid_t pid, const std::string& dump_dir, PeerLink& link,
                         Checkpointer& criu, const HandoffLimits& lim = {});

enum class TargetOutcome { Refused, Failed, Running, Dropped, Pending };
struct TargetResult {
  TargetOutcome outcome = TargetOutcome::Failed;
  std::string why;
  nlohmann::json job;  // the offer
  pid_t pid = -1;      // Running / Pending: the restored init
  RestoreResult restored;  // its stdio pipes (the caller closes them unless it keeps the job)
};

// Serves one incoming migration. `fits` judges the offer (empty string = yes, else why not).
TargetResult migrate_in(PeerLink& link, Checkpointer& criu, const std::string& image_dir,
                        const std::function<std::string(const nlohmann::json&)>& fits, const HandoffLimits& lim = {});

const char* source_outcome_name(SourceOutcome o);
// How a handoff went, for logs ("12.3 MB, frozen 1.20 s, after 2 pre-copy round(s) of 260.1 MB"),
// and the API's answer to whoever asked for the move.
std::string handoff_summary(const SourceResult& r);
nlohmann::json handoff_reply(const std::string& id, const std::string& node, bool ok, const SourceResult& r);
const char* target_outcome_name(TargetOutcome o);

}  // namespace grappe
