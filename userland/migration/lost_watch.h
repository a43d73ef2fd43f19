// When a job running on another node counts as lost with that node. Membership may declare a
// node dead that only stalled: on a 2-node cluster a node silent for about 2 s is dead (a daemon
// under a busy emulated CPU, or a machine swapping), and it refutes as soon as it answers again.
// Its jobs run on meanwhile, so the home node ends a job as lost only once its node has been held
// dead for a grace period, not at the first tick that sees it dead.
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace grappe {

class LostWatch {
 public:
  explicit LostWatch(double grace_s = 10) : grace_(grace_s) {}
  // One tick: call check() for every remote running job, then sweep(). check() is true when the
  // job is lost now (its node dead for grace_s or more); the caller ends it.
  bool check(const std::string& job, bool node_alive, double now) {
    if (node_alive) {
      since_.erase(job);
      return false;
    }
    auto it = since_.try_emplace(job, Entry{now, gen_}).first;
    it->second.gen = gen_;
    if (now - it->second.since < grace_) return false;
    since_.erase(it);
    return true;
  }
  // Forgets jobs not checked since the last sweep (they ended, or came home).
  void sweep() {
    std::erase_if(since_, [&](const auto& kv) { return kv.second.gen != gen_; });
    ++gen_;
  }
  double grace() const { return grace_; }
  size_t watched() const { return since_.size(); }

 private:
  struct Entry {
    double since;
    uint64_t gen;
  };
  double grace_;
  uint64_t gen_ = 0;
  std::map<std::string, Entry> since_;
};

}  // namespace grappe
