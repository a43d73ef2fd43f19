// The grappe CLI's side of the local API (protocol: common/api_protocol.h).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "common/api_protocol.h"

namespace grappe {

// Sends one request, returns the reply; throws std::runtime_error with a clear message when the
// daemon cannot be reached, does not answer in time or answers with an error.
nlohmann::json api_call(const std::string& socket_path, const nlohmann::json& request, int timeout_ms = 3000);

}  // namespace grappe
