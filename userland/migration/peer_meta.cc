#include "migration/peer_meta.h"

#include <climits>

#include "common/hex.h"
#include "common/json_fields.h"

namespace grappe {
namespace {

constexpr size_t kMaxMetaName = 256;  // node names, job ids, image names
constexpr size_t kMaxText = 4096;  // reasons
constexpr int64_t kMaxEpoch = INT_MAX;

// "off": [stdout bytes, stderr bytes], each -1 (unknown) or more; absent: both unknown.
bool parse_offsets(Fields& f, int64_t off[3]) {
  off[1] = off[2] = -1;
  nlohmann::json a = f.array("off");
  if (!f.ok() || a.is_null()) return true;
  if (!a.is_array() || a.size() != 2) return f.fail("\"off\" must be [stdout bytes, stderr bytes]"), true;
  for (size_t i = 0; i < 2; ++i) {
    if (!a[i].is_number_integer() || a[i].get<int64_t>() < -1) return f.fail("\"off\" must hold two integers of -1 or more"), true;
    off[i + 1] = a[i].get<int64_t>();
  }
  return true;
}

bool done(const Fields& f, std::string& why) {
  if (f.ok()) return true;
  why = f.error();
  return false;
}

}  // namespace

bool safe_job_id(const std::string& id) {
  return !id.empty() && id.size() < 40 && id.find_first_not_of("0123456789.") == std::string::npos && id[0] != '.';
}

bool parse_offer(const nlohmann::json& meta, Offer& o, std::string& why) {
  Fields f(meta, "offer");
  o.id = f.str("id", "", Need::Required, kMaxMetaName);
  o.from = f.str("from", "?", Need::Optional, kMaxMetaName);
  o.user = f.str("user", "?", Need::Optional, kMaxMetaName);
  o.home = f.str("home", "?", Need::Optional, kMaxMetaName);
  o.argv = f.strings("argv");
  o.cpu_flags = f.strings("cpu_flags", Need::Optional, 4096);
  o.home_number = static_cast<uint16_t>(f.integer("home_number", 0, 0, UINT16_MAX));
  o.epoch = static_cast<int>(f.integer("epoch", 1, 1, kMaxEpoch));
  o.uid = static_cast<uid_t>(f.integer("uid", 65534, 0, UINT32_MAX - 1));
  o.stay = f.boolean("stay", false);
  o.tty_out = f.boolean("tty_out", false);
  o.tty_err = f.boolean("tty_err", false);
  o.precopy = f.boolean("precopy", false);
  o.age_s = f.number("age_s", 0);
  o.work_s = f.number("work_s", 0);
  if (!(o.work_s >= 0 && o.work_s < 1e9)) o.work_s = 0;  // an odd figure: unknown
  o.rss_kb = static_cast<uint64_t>(f.integer("rss_kb", 0, 0, INT64_MAX));
  if (f.ok() && !safe_job_id(o.id)) f.fail("\"id\" is not a valid job id");
  // Read where the job lands (restore, dump_priority): wrong types there must not pass.
  f.object("stdio");
  if (f.has("nice")) f.integer("nice", 0, -20, 19);
  return done(f, why);
}

bool parse_reason(const nlohmann::json& meta, const char* frame, std::string& why_peer, std::string& why) {
  Fields f(meta, frame);
  why_peer = f.str("why", "?", Need::Optional, kMaxText);
  return done(f, why);
}

bool parse_image_file(const nlohmann::json& meta, ImageFile& img, std::string& why) {
  Fields f(meta, "file");
  img.name = f.str("name", "", Need::Required, kMaxMetaName);
  img.dir = f.str("dir", "", Need::Optional, kMaxMetaName);
  img.size = static_cast<uint64_t>(f.integer("size", 0, 0, INT64_MAX, Need::Required));
  return done(f, why);
}

bool parse_commit(const nlohmann::json& meta, std::string& parent, std::string& why) {
  Fields f(meta, "commit");
  parent = f.str("parent", "", Need::Optional, kMaxMetaName);
  f.integer("bytes", 0, 0, INT64_MAX);
  return done(f, why);
}

bool parse_relay_hello(const nlohmann::json& meta, RelayHello& h, std::string& why) {
  Fields f(meta, "relay");
  h.id = f.str("id", "", Need::Required, kMaxMetaName);
  h.epoch = static_cast<int>(f.integer("epoch", -1, 0, kMaxEpoch, Need::Required));
  return parse_offsets(f, h.off) && done(f, why);
}

bool parse_resume(const nlohmann::json& meta, int64_t off[3], std::string& why) {
  Fields f(meta, "resume");
  if (!meta.is_object() || !meta.contains("off")) f.fail("\"off\" is missing");
  return parse_offsets(f, off) && done(f, why);
}

bool parse_move_order(const nlohmann::json& meta, const std::string& default_reason, MoveOrder& m, std::string& why) {
  Fields f(meta, "migrate");
  m.to = f.str("to", "", Need::Required, kMaxMetaName);
  m.client = static_cast<int>(f.integer("client", -1, -1, INT_MAX));
  m.reason = f.str("reason", default_reason, Need::Optional, kMaxText);
  m.precopy = static_cast<int>(f.integer("precopy", -1, -1, 1));
  return done(f, why);
}

bool parse_out(const nlohmann::json& meta, int& stream, std::string& why) {
  Fields f(meta, "out");
  stream = static_cast<int>(f.integer("fd", 1, 1, 2));
  return done(f, why);
}

bool parse_exit(const nlohmann::json& meta, int& status, std::string& why) {
  Fields f(meta, "exit");
  status = static_cast<int>(f.integer("status", 255, 0, 255));
  return done(f, why);
}

bool parse_moved(const nlohmann::json& meta, int default_epoch, MovedNote& m, std::string& why) {
  Fields f(meta, "moved");
  m.to = f.str("to", "?", Need::Optional, kMaxMetaName);
  m.epoch = static_cast<int>(f.integer("epoch", default_epoch, 0, kMaxEpoch));
  m.why = f.str("why", "", Need::Optional, kMaxText);
  return done(f, why);
}

bool parse_migrated(const nlohmann::json& meta, int& client, std::string& why) {
  Fields f(meta, "migrated");
  client = static_cast<int>(f.integer("client", -1, -1, INT_MAX));
  return done(f, why);
}

bool parse_signal(const nlohmann::json& meta, int& sig, std::string& why) {
  Fields f(meta, "signal");
  sig = static_cast<int>(f.integer("sig", 15, 1, 64));
  return done(f, why);
}

bool parse_resolve(const nlohmann::json& meta, ResolveAsk& a, std::string& why) {
  Fields f(meta, "resolve");
  a.id = f.str("id", "", Need::Required, kMaxMetaName);
  a.epoch = static_cast<int>(f.integer("epoch", 0, 0, kMaxEpoch));
  return done(f, why);
}

bool parse_resolved(const nlohmann::json& meta, std::optional<bool>& moved, std::string& why) {
  Fields f(meta, "resolved");
  moved.reset();
  if (f.has("moved")) moved = f.boolean("moved", false);
  return done(f, why);
}

nlohmann::json forgotten_meta(const ForgottenList& l) {
  nlohmann::json ids = nlohmann::json::array();
  for (const auto& id : l.ids) ids.push_back(id_hex(id));
  return {{"forgotten", ids}, {"version", l.version}};
}

bool parse_forgotten(const nlohmann::json& meta, ForgottenList& l, std::string& why) {
  Fields in(meta, "forgotten");
  l.version = static_cast<uint32_t>(in.integer("version", 0, 0, UINT32_MAX));
  if (!in.ok()) return why = in.error(), false;
  l.ids.clear();
  auto it = meta.find("forgotten");
  if (it == meta.end()) return true;
  if (!it->is_array() || it->size() > kMaxForgotten)
    return why = "forgotten: \"forgotten\" must be an array of at most " + std::to_string(kMaxForgotten) + " node ids", false;
  for (const auto& v : *it) {
    NodeId id{};
    if (!v.is_string() || !id_from_hex(v.get<std::string>(), id))
      return why = "forgotten: \"forgotten\" holds something that is not a node id", false;
    l.ids.push_back(id);
  }
  return true;
}

nlohmann::json rekey_meta(const RekeyMeta& r) {
  nlohmann::json m = forgotten_meta(r.list);
  m["epoch"] = r.next.epoch;
  m["key"] = to_hex(r.next.key);
  m["grace"] = r.grace;
  return m;
}

bool parse_rekey(const nlohmann::json& meta, RekeyMeta& r, std::string& why) {
  Fields in(meta, "rekey");
  r.next.epoch = static_cast<uint32_t>(in.integer("epoch", 0, 1, UINT32_MAX, Need::Required));
  const std::string hex = in.str("key", "", Need::Required, 64);
  r.grace = in.boolean("grace", true);
  if (!in.ok()) return why = in.error(), false;
  if (!parse_hex(hex, r.next.key)) return why = "rekey: \"key\" is not 64 lower-case hex characters", false;
  return parse_forgotten(meta, r.list, why);
}

bool parse_abandon(const nlohmann::json& meta, uint32_t& epoch, std::string& fingerprint, std::string& why) {
  Fields in(meta, "abandon");
  epoch = static_cast<uint32_t>(in.integer("epoch", 0, 1, UINT32_MAX, Need::Required));
  fingerprint = in.str("fingerprint", "", Need::Required, 16);
  if (!in.ok()) return why = in.error(), false;
  return true;
}

}  // namespace grappe
