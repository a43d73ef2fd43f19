// The seam in front of a Debian mirror's files: the recipe check reads the archive's metadata
// through a MirrorFetcher, so tests substitute a fake mirror made of a few strings.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "error.h"

namespace grappe::build {

// The mirror could not be asked at all (no route, refused, timeout, a server error, a scheme
// this reader does not speak): nothing is known about the recipe, as opposed to "not there".
struct MirrorUnreachable : Error {
  using Error::Error;
};

class MirrorFetcher {
 public:
  virtual ~MirrorFetcher() = default;
  // The file at `rel` below the mirror's root ("dists/trixie/Release"); nullopt when the mirror
  // says it does not exist (HTTP 404 or 410, a missing local file). Throws MirrorUnreachable.
  virtual std::optional<std::string> get(const std::string& rel) = 0;
  // The mirror, for messages.
  virtual std::string where() const = 0;
};

// http://, https:// (redirects followed, 15 s to connect, 60 s per read) and file:// or file:/
// mirrors, as mmdebstrap takes them. Any other scheme: get() throws MirrorUnreachable.
std::unique_ptr<MirrorFetcher> make_mirror_fetcher(const std::string& mirror_url);

}  // namespace grappe::build
