// The metas (JSON headers) of the frames grapped daemons send each other, read as untrusted
// input: every parser checks each field's type and range with common/json_fields.h and never
// throws. A false return comes with `why` naming the frame and the field; the caller ends that
// link (and that handoff), never the daemon. Fuzzed by tests/fuzz/fuzz_peer_meta.cc.
//
// Frames by conversation (handoff.h, relay.h, migrator.h for the protocols):
//   handoff: offer, refuse{why}, file{name,size,dir}, commit{bytes,parent}, failed{why}
//   relay:   relay{id,epoch}, out{fd}, exit{status}, moved{to,epoch,why}, migrated{client,…},
//            signal{sig}, migrate{to,client,reason,precopy}
//   resolve: resolve{id,epoch}, resolved{moved: true|false|null}
//   rekey:   rekey{epoch,key,grace,forgotten,version}, rekeyed{ok,error}, abandon{epoch,fingerprint},
//            forgotten{forgotten,version} (migrator_rekey.cc)
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "membership/key_ring.h"

namespace grappe {

// A job id as the cluster makes them ("<node number>.<sequence>"): safe in a file name.
bool safe_job_id(const std::string& id);

// The offer: the job a source wants to hand over (Migrator::offer_for writes it).
struct Offer {
  std::string id, from, user, home;
  std::vector<std::string> argv, cpu_flags;
  uint16_t home_number = 0;
  int epoch = 1;  // the residence the job starts on the target
  uid_t uid = 65534;
  bool stay = false, tty_out = false, tty_err = false, precopy = false;
  double age_s = 0;
  double work_s = 0;  // work done so far, reference CPU-seconds (job_history.h); 0 from older peers
  uint64_t rss_kb = 0;
};
bool parse_offer(const nlohmann::json& meta, Offer& o, std::string& why);

// refuse / failed: the peer's reason ("?" when it gave none).
bool parse_reason(const nlohmann::json& meta, const char* frame, std::string& why_peer, std::string& why);

// One image file announced by the source (name and dir are checked by the handoff).
struct ImageFile {
  std::string name, dir;
  uint64_t size = 0;
};
bool parse_image_file(const nlohmann::json& meta, ImageFile& f, std::string& why);
// commit: the last pre-dump the final images build on ("" if none).
bool parse_commit(const nlohmann::json& meta, std::string& parent, std::string& why);

// The first frame of a relay connection: which job, which residence, and how many bytes of each
// stream of this residence the node running it has sent so far (-1: it does not know, its
// grapped restarted). The home answers "resume" with the bytes of each it has delivered (-1: it
// does not know, its grapped restarted and no caller came back): the relay sends again what the
// home lacks, so a broken link or a restart on either side loses or repeats no output.
struct RelayHello {
  std::string id;
  int epoch = -1;
  int64_t off[3] = {0, -1, -1};  // [1] stdout, [2] stderr
};
bool parse_relay_hello(const nlohmann::json& meta, RelayHello& h, std::string& why);
bool parse_resume(const nlohmann::json& meta, int64_t off[3], std::string& why);

// A request to move a job on: a "migrate" frame from its home, or an entry of the job's ctl_q.
struct MoveOrder {
  std::string to;
  int client = -1;  // the API client waiting for the answer (on the node that asked), -1: none
  std::string reason;
  int precopy = -1;  // 1 with pre-dumps, 0 without, -1 by the job's size
};
bool parse_move_order(const nlohmann::json& meta, const std::string& default_reason, MoveOrder& m, std::string& why);

// What the node running a moved job tells its home.
bool parse_out(const nlohmann::json& meta, int& stream, std::string& why);    // 1 stdout, 2 stderr
bool parse_exit(const nlohmann::json& meta, int& status, std::string& why);   // 0-255
struct MovedNote {
  std::string to, why;
  int epoch = 0;
};
bool parse_moved(const nlohmann::json& meta, int default_epoch, MovedNote& m, std::string& why);
bool parse_migrated(const nlohmann::json& meta, int& client, std::string& why);  // client -1: nobody
// What a home tells the node running its job.
bool parse_signal(const nlohmann::json& meta, int& sig, std::string& why);  // 1-64

// Resolution of a handoff cut at its last step: the target asks, the source answers what it
// recorded (nullopt: nothing; its grapped restarted, so its copy thawed).
struct ResolveAsk {
  std::string id;
  int epoch = 0;
};
bool parse_resolve(const nlohmann::json& meta, ResolveAsk& a, std::string& why);
bool parse_resolved(const nlohmann::json& meta, std::optional<bool>& moved, std::string& why);

// The nodes root forgot (`grappe node forget`), and the key epoch at which the list last changed:
// between members, the newer list wins. At most kMaxForgotten ids.
struct ForgottenList {
  uint32_t version = 0;
  std::vector<NodeId> ids;
};
constexpr size_t kMaxForgotten = 1024;
nlohmann::json forgotten_meta(const ForgottenList& l);  // {forgotten, version}
bool parse_forgotten(const nlohmann::json& meta, ForgottenList& l, std::string& why);

// rekey: the next epoch's key, whether the old key keeps its grace, and the forgotten list.
struct RekeyMeta {
  KeyEpoch next;
  bool grace = true;
  ForgottenList list;
};
nlohmann::json rekey_meta(const RekeyMeta& r);
bool parse_rekey(const nlohmann::json& meta, RekeyMeta& r, std::string& why);

// abandon: the epoch and key fingerprint (16 hex digits) of a rekey its initiator gave up.
bool parse_abandon(const nlohmann::json& meta, uint32_t& epoch, std::string& fingerprint, std::string& why);

}  // namespace grappe
