// `grappe nodes`' pending section: the PCs waiting to join under the `ask` admission policy, as
// the serving node's grapped lists them in its nodes reply (daemon/api_server.h add_pending).
// Pure functions over the reply, which may come from another version of grapped: every field is
// type-checked and a missing or malformed one is shown as "?" or skipped, never thrown on.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace grappe {

// The text after the node table: "" when nothing waits and no other node holds the list;
// else a "pending" header and one line per PC (MAC, address, key fingerprint, seconds waiting,
// the command that admits it), or where to look (pending_on: the serving node).
std::string pending_text(const nlohmann::json& reply);
// `grappe nodes --json`: the members' array, followed by one entry per waiting PC with
// "state": "pending" (name = its MAC, number 0), so scripts that read members by state keep working.
nlohmann::json nodes_json(const nlohmann::json& reply);

}  // namespace grappe
