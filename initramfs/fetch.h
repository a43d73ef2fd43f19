// Network root: downloads a layer over HTTP into RAM while hashing it, so a corrupt or
// truncated download is caught before anything is mounted.
#pragma once
#include <functional>
#include <string>

namespace grappe::init {

struct Url {
  std::string host;
  int port = 80;
  std::string path;
};

// Parses http://host[:port]/path; false (and `error`) otherwise.
bool parse_url(const std::string& s, Url& out, std::string& error);

// Downloads `url` to `dest`; returns the hex SHA-256 of what was received, or "" with `error`.
// `progress(bytes, total)` is called as data arrives (total 0 when unknown). `max_bytes` (0: no
// limit) refuses a body announced or received longer than that, stopping the read there.
std::string fetch_to_file(const std::string& url, const std::string& dest, std::string& error,
                          const std::function<void(size_t, size_t)>& progress, size_t max_bytes = 0);

}  // namespace grappe::init
