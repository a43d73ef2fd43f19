// What a received checkpoint would run as. A migration offer names the job's owner ("uid"), but
// CRIU restores whatever credentials its images hold, as root. Before restoring, the target reads
// the credentials of every task and thread (core-*.img: core_entry.thread_core.creds) and refuses
// the images unless they are what the offer claims: every uid the offer's uid, every gid and
// supplementary group one of that user's groups here, and, for a user other than root, no
// effective or permitted capability. The parse follows protobuf's rules (later fields override,
// repeated fields and embedded messages merge), bounded, and is fuzzed.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace grappe {

struct ImageCreds {
  uint32_t uid = 0, gid = 0, euid = 0, egid = 0, suid = 0, sgid = 0, fsuid = 0, fsgid = 0;
  std::vector<uint32_t> cap_inh, cap_prm, cap_eff, groups;
  uint32_t seen = 0;  // bit n-1 set when field n (1..8) was present
  bool zombie = false;  // a dead task CRIU restores as a zombie: no credentials, runs nothing
};

// One core image's bytes (CRIU image header, then one size-prefixed core_entry). False with `why`.
bool parse_core_creds(const std::string& bytes, ImageCreds& out, std::string& why);

// "" when `c` is what a job of `uid`, whose groups here are `groups`, may run as; else why not.
std::string creds_mismatch(const ImageCreds& c, uid_t uid, const std::vector<uint32_t>& groups);

// Every core-*.img under `dir` checked with creds_mismatch (at least one must exist). Refused: a
// legacy creds-*.img (CRIU would read credentials from it) and userns-*.img (credentials inside a
// user namespace of the job's own mean other ones outside). "" or the first reason, naming the file.
std::string vet_image_creds(const std::string& dir, uid_t uid, const std::vector<uint32_t>& groups);

// The groups of `uid` on this node (primary and supplementary, from the passwd and group
// databases); empty when the user is unknown here.
std::vector<uint32_t> groups_of(uid_t uid);

}  // namespace grappe
