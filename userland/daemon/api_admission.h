// Who may open another local-API connection: at most 64 in all, at most 16 per non-root uid, and
// the last 8 slots only for root, so no user (nor several together) can lock root out of
// `grappe node` or `grappe status` by holding connections open.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <string>

namespace grappe {

struct ApiLimits {
  size_t total = 64;      // connections in all
  size_t per_user = 16;   // per non-root uid
  size_t root_only = 8;   // of `total`, kept for root
};

// "" when a connection from `uid` is admitted, with `from_uid` of its connections and `open` in
// all already open; otherwise why not (sent to the refused client).
std::string api_admission(uid_t uid, size_t from_uid, size_t open, const ApiLimits& lim = {});

}  // namespace grappe
