// libFuzzer target for the peer stream's frame decoder: the plaintext of one secretstream
// message, as a peer holding the cluster key could send it. Whatever decodes must re-encode to
// bytes that decode to the same frame.
#include <cstdlib>

#include "migration/peer_link.h"

using namespace grappe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = decode_frame(data, size);
  if (!f) return 0;
  std::string again = encode_frame(*f);
  auto g = decode_frame(reinterpret_cast<const uint8_t*>(again.data()), again.size());
  if (!g || g->kind != f->kind || g->meta != f->meta || g->data != f->data) std::abort();
  return 0;
}
