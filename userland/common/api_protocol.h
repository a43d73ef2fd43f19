// The local API's protocol, shared by grapped (daemon/api_server.h) and the grappe CLI
// (cli/api_client.h): newline-delimited JSON objects over a UNIX socket, versioned ("v": 1);
// replies carry "ok" and either the data or "error". Binary data (a job's stdin and output)
// travels as base64.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace grappe {

constexpr int kApiVersion = 1;

// A refusal: {"v": 1, "ok": false, "error": why}.
nlohmann::json api_error(const std::string& why);

std::string b64_encode(const std::string& raw);
// False when `text` is not valid base64.
bool b64_decode(const std::string& text, std::string& raw);

}  // namespace grappe
