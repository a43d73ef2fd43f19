#include "daemon/api_admission.h"

namespace grappe {

std::string api_admission(uid_t uid, size_t from_uid, size_t open, const ApiLimits& lim) {
  if (open >= lim.total) return "grapped has " + std::to_string(open) + " API connections open (the limit); try again";
  if (uid == 0) return "";
  if (open + lim.root_only >= lim.total)
    return "grapped keeps its last " + std::to_string(lim.root_only) + " API connections for root; try again";
  if (from_uid >= lim.per_user)
    return "uid " + std::to_string(uid) + " has " + std::to_string(from_uid) + " API connections open (at most " +
           std::to_string(lim.per_user) + " per user); close some and try again";
  return "";
}

}  // namespace grappe
