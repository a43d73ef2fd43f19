// A network-booted node keeps a copy of everything the cluster's network boot serves (kernel,
// initrd, boot script, iPXE loaders and its layers) under /run/grappe/medium, laid out like the
// CD, so it can serve network boot itself if the node serving now goes away.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace grappe::init {

// "HASH  NAME" lines (sha256sum's format) → name → hash. Malformed lines are skipped.
std::map<std::string, std::string> parse_sums(const std::string& text);

// The files fetched besides the layers: served name → path under the medium directory.
const std::vector<std::pair<std::string, std::string>>& mirrored_boot_files();

// Downloads `url` to `dest` and returns its hex SHA-256, or "" with `error`.
using Fetcher = std::function<std::string(const std::string& url, const std::string& dest, std::string& error)>;

// Fetches base_url + "SHA256SUMS", checks it names the layers with the hashes the node booted
// with (`layers`: served name → hash), fetches each mirrored file into `medium` and checks it,
// then hard-links the already fetched layers (`layer_files`: served name → local path) into
// `medium`/live. Returns "" on success, else why not; on failure `medium` is removed (nothing
// half-copied stays in RAM), so the boot service says why this node cannot serve.
std::string mirror_boot_files(const std::string& base_url, const std::map<std::string, std::string>& layers,
                              const std::map<std::string, std::string>& layer_files, const std::string& medium,
                              const Fetcher& fetch);

}  // namespace grappe::init
