// Which Debian mirror the build uses. No mirror is ever written into the repo: by default it is
// the build host's own, read from its apt sources.
#pragma once
#include <string>
#include <vector>

namespace grappe::build {

// The first Debian (non-security) archive URI found in one-line or deb822 apt sources text.
// The whitespace-separated words of a line (sources.list and apt metadata fields).
std::vector<std::string> words(const std::string& s);
std::string mirror_from_sources(const std::string& text, bool deb822);
// Scans <etc>/apt/sources.list and <etc>/apt/sources.list.d/*.{list,sources}; "" if none.
std::string host_mirror(const std::string& etc_dir = "/etc");
// --mirror, then $GRAPPE_MIRROR, then the recipe's, then the host's; throws when none is known.
std::string choose_mirror(const std::string& cli, const std::string& recipe, const std::string& etc_dir = "/etc");

}  // namespace grappe::build
