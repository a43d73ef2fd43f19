// The real Checkpointer: CRIU driven as a service through libcriu (criu swrk, one per call), never
// by scraping its command-line output. Built only where libcriu is available (the image's SDK);
// elsewhere grapped uses NoCheckpointer and refuses migrations with the reason.
//
// Dump: the "post-dump" notification is the hold. CRIU has written the images and the tasks are
// still frozen; the hold's answer decides whether CRIU kills them (moved) or thaws them (stayed).
// Restore: the "post-restore" notification is the hold on the other side. The tree is rebuilt as
// a child of grapped (restore-sibling), its stdio on fresh pipes passed with inherit-fd, and it
// does not run until resume() releases it; discard() fails the restore, and CRIU kills it.
#pragma once
#include <memory>
#include <string>

#include "migration/handoff.h"

namespace grappe {

class NoCheckpointer final : public Checkpointer {
 public:
  explicit NoCheckpointer(std::string why) : why_(std::move(why)) {}
  DumpResult dump(pid_t, const std::string&, const std::string&, const std::function<bool()>&) override {
    return {false, why_, 0};
  }
  RestoreResult restore(const std::string&, const nlohmann::json&) override { return {-1, why_}; }
  bool resume(pid_t) override { return false; }
  void discard(pid_t) override {}

 private:
  std::string why_;
};

// A CRIU checkpointer if this build has libcriu and `criu` works here; otherwise a NoCheckpointer
// whose error says why. `why` is empty when migration is possible.
std::unique_ptr<Checkpointer> make_checkpointer(std::string& why);

// The "pipe:[inode]" keys of a process's stdio (fd 0-2), for the offer: {"0": "pipe:[123]", ...}.
nlohmann::json stdio_pipe_keys(const std::string& proc, pid_t pid);

}  // namespace grappe
