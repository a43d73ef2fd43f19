// How `grappe status` and `grappe home` show the replicated /home (home/home_share.h status()).
// Pure functions over grapped's reply, which may come from another version: every field is
// type-checked, a missing one left out, never thrown on.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace grappe {

// "home      STATE\n          DETAILS\n": the state line, then the role, sync, backing and space.
std::string home_text(const nlohmann::json& home);
// True when /home is degraded (served with no standby in sync, or not served at all).
bool home_degraded(const nlohmann::json& home);

}  // namespace grappe
