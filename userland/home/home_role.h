// Who serves the replicated /home, who stands by, and when a standby may take over: pure logic,
// decided by each node alone from what the members advertise in their load entries.
//
// The server's data lives on a DRBD device replicated synchronously (protocol C) to one standby.
// A *term* numbers the succession of servers: a node that founds a new /home or promotes a copy
// serves at a term above every term it has seen, so after a merge the highest term wins.
//
// Split brain: a node serves only while it sees a majority of the members it last knew. A standby
// promotes only with a strict majority; a server keeps serving on a tie (in a cluster of two, the
// server goes on when the standby dies, and the standby never promotes alone: it keeps its copy
// and says why). `Quorum` follows the membership: its count of known members moves to what this
// node sees whenever that is still a majority of what it knew, so nodes leaving one at a time
// shrink it, and a partitioned minority never does.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace grappe {

enum HomeFlag : uint32_t {
  kHomeServer = 1,   // serves /home (DRBD primary, exported)
  kHomeStandby = 2,  // holds the replica of the server of its term (DRBD secondary)
  kHomeInSync = 4,   // its copy is complete (UpToDate): a standby that may promote
  kHomeDisk = 8,     // this node has a GRAPPE-HOME disk
  // Its disk (unused now) holds a /home: `term` is the one its filesystem was last served at. A
  // RAM-backed /home of a term not above it gives way to it (a whole cluster booting again: the
  // disk node may join after a RAM /home was founded); an older disk is overwritten by the copy.
  kHomeDiskData = 16,
};

struct HomeAdvert {
  uint32_t term = 0;   // the home it serves or stands by for; 0 = none yet
  uint32_t flags = 0;  // HomeFlag bits
  uint16_t standby = 0;  // a server's chosen standby (node number), 0 = none
  uint32_t size_mb = 0;  // the replicated device's size
  uint32_t used_mb = 0, free_mb = 0;  // a server's filesystem (clients show them: no statvfs over NFS)
  uint32_t packed() const { return term << 8 | (flags & 0xff); }
  static HomeAdvert unpack(uint32_t home, uint16_t peer, uint32_t mb, uint32_t used = 0, uint32_t free = 0) {
    return {home >> 8, home & 0xff, peer, mb, used, free};
  }
  bool has(uint32_t f) const { return (flags & f) != 0; }
  bool operator==(const HomeAdvert&) const = default;
};

struct HomeNode {
  uint16_t number = 0;
  std::string name;
  HomeAdvert ad;
};

class Quorum {
 public:
  // `present`: live and suspect members with a number, this node included.
  void observe(size_t present, bool serving);
  bool majority(size_t present) const { return present * 2 > known_; }
  bool tie(size_t present) const { return present * 2 == known_; }
  size_t known() const { return known_; }

 private:
  size_t known_ = 0;
};

enum class HomeAction {
  Wait,     // nothing to do now (why says what is awaited)
  Found,    // start a new, empty /home at `term` and serve it
  Promote,  // this standby's copy becomes the server at `term`
  Serve,    // go on serving; replicate to `standby` (0: none available)
  HandOver, // this RAM-backed server's standby holds a complete copy on a GRAPPE-HOME disk: give
            // /home to it (the role follows the storage)
  Fence,    // this server lost its majority: stop serving, keep the data
  Demote,   // another server outranks this one (clusters merged): stop serving, drop the data
  Standby,  // hold the replica of `server` at `term`
  Mount,    // use /home from `server`
};

struct HomePlan {
  HomeAction action = HomeAction::Wait;
  uint32_t term = 0;
  uint16_t server = 0;   // the serving node's number (this node's when it serves)
  uint16_t standby = 0;  // the server's standby choice
  std::string why;       // for the journal and `grappe home`
};

struct HomeInput {
  HomeNode self;                 // with this node's current advert
  std::vector<HomeNode> others;  // live and suspect members with a number
  bool majority = false, tie = false;
  // This standby's server handed /home over (a clean shutdown: its DRBD went Secondary before
  // it left): the copy takes over without a majority (the server is not serving elsewhere).
  bool released = false;
  // This standby's server left cleanly without handing over, a moment ago: most likely grapped
  // restarting on it (its device still Primary, its /home still served). Wait rather than promote.
  bool server_left_lately = false;
};

// The highest-ranking server among `in`'s nodes: highest term, then lowest number.
std::optional<HomeNode> current_server(const HomeInput& in);
// The standby a server picks: a node with a GRAPPE-HOME disk first, then its current one while
// alive, else the lowest number.
uint16_t choose_standby(const HomeInput& in, uint16_t current);
HomePlan plan_home(const HomeInput& in);

}  // namespace grappe
