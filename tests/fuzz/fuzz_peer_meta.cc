// libFuzzer target for what grapped reads from a peer's frame metas: the input is parsed as JSON
// (as decode_frame does) and, when it decodes, also as a whole frame; every meta parser of
// migration/peer_meta.h then reads it. None may throw or crash, whatever the types; an accepted
// offer must hold a job id that is safe as a file name; a frame's meta must re-encode (dump_safe).
#include <cstdlib>

#include "migration/peer_link.h"
#include "migration/peer_meta.h"

using namespace grappe;

namespace {

void read_all(const nlohmann::json& meta) {
  std::string why, text;
  int v = 0;
  Offer o;
  if (parse_offer(meta, o, why) ? !safe_job_id(o.id) : why.empty()) std::abort();  // a refusal says why
  parse_reason(meta, "refuse", text, why);
  ImageFile f;
  parse_image_file(meta, f, why);
  parse_commit(meta, text, why);
  RelayHello h;
  if (parse_relay_hello(meta, h, why) && (h.epoch < 0 || h.off[1] < -1 || h.off[2] < -1)) std::abort();
  int64_t off[3];
  if (parse_resume(meta, off, why) && (off[1] < -1 || off[2] < -1)) std::abort();
  MoveOrder m;
  if (parse_move_order(meta, "fuzz", m, why) && (m.precopy < -1 || m.precopy > 1 || m.client < -1)) std::abort();
  if (parse_out(meta, v, why) && v != 1 && v != 2) std::abort();
  if (parse_exit(meta, v, why) && (v < 0 || v > 255)) std::abort();
  MovedNote mv;
  parse_moved(meta, 1, mv, why);
  parse_migrated(meta, v, why);
  if (parse_signal(meta, v, why) && (v < 1 || v > 64)) std::abort();
  ResolveAsk a;
  parse_resolve(meta, a, why);
  std::optional<bool> moved;
  parse_resolved(meta, moved, why);
  RekeyMeta rk;
  if (parse_rekey(meta, rk, why) && (rk.next.epoch == 0 || rk.list.ids.size() > kMaxForgotten)) std::abort();
  ForgottenList fl;
  if (parse_forgotten(meta, fl, why) && fl.ids.size() > kMaxForgotten) std::abort();
  uint32_t ep = 0;
  std::string fpr;
  if (parse_abandon(meta, ep, fpr, why) && (ep == 0 || fpr.size() > 16)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto meta = nlohmann::json::parse(data, data + size, nullptr, false);
  if (!meta.is_discarded()) read_all(meta);
  if (auto f = decode_frame(data, size)) {
    read_all(f->meta);
    const std::string again = encode_frame(*f);
    if (!decode_frame(reinterpret_cast<const uint8_t*>(again.data()), again.size())) std::abort();
  }
  return 0;
}
