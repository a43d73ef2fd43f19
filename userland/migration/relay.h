// The output relay of a migrated job: it keeps a job that runs on another node attached to its
// home node, over one peer link per residence.
//
//   home H                          node running the job T
//   record (remote, sig_q, ctl_q) ◄── relay{id, epoch}: out…, exit | moved   (guest side, on T)
//                                 ──► stdin, eof, signal, migrate{to}
// A job's residences are numbered (epoch 0 at home, +1 per move). H delivers all output of a
// residence before any of the next: its own pipes drain to EOF after the source copy ends, and a
// relay for epoch e waits until e is current. Moves are requested on H (the relay forwards them)
// or on T; a guest is moved by its own relay thread, which ends its relay with "moved".
//
// A Relay needs only the job table and a few callbacks (RelayEnv), so tests run both sides over a
// fake link. Every frame meta from the peer is type-checked (peer_meta.h): a malformed one ends
// that link, with the reason logged, never the daemon. Threads take env.mu only to read or change
// the job table, never across I/O.
#pragma once
#include <sys/types.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "jobs/job_service.h"
#include "migration/handoff.h"
#include "migration/peer_link.h"
#include "migration/peer_meta.h"

namespace grappe {

// How a guest's move went: `started` false when the job could not even be offered (`r.why`
// says why); else the handoff's result and the epoch the job has on the target.
struct GuestMove {
  bool started = false;
  SourceResult r;
  int epoch = 0;
};

struct RelayEnv {
  std::mutex* mu = nullptr;   // the daemon's lock over the job table
  JobService* jobs = nullptr;
  // Connects to the job's home node (lock not held); nullptr with `err` saying why.
  std::function<std::unique_ptr<PollLink>(uint16_t home_number, std::string& err)> connect_home;
  // Moves a guest on: the whole handoff (lock not held).
  std::function<GuestMove(const std::string& id, pid_t pid, const MoveOrder& m)> move;
  // Lock held for these two.
  std::function<void(int client, const nlohmann::json& reply)> reply;  // answer a waiting API client
  std::function<void(const std::string&)> log;
};

class Relay {
 public:
  explicit Relay(RelayEnv env) : env_(std::move(env)) {}
  // On the node running job `id`, home elsewhere (its thread): takes the job's pipes, relays its
  // output home, feeds it stdin and signals, moves it on when asked, reaps it and sends the exit
  // status. Returns when the job ended or left.
  void guest(const std::string& id);
  // On the home node (its thread): serves one relay connection whose first frame was `first`,
  // until the job exits, moves on or the link breaks.
  void home(std::unique_ptr<PollLink> link, const Frame& first);

 private:
  RelayEnv env_;
};

}  // namespace grappe
