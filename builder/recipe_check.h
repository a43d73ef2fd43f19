// A recipe checked against its mirror before any long work: the suite exists, and every package
// the image and the SDK name is in the suite's main component for amd64 (as a real package, or
// as a virtual one some package provides). Each finding names the recipe line and what to do.
#pragma once
#include <string>
#include <vector>

#include "package_index.h"
#include "recipe.h"

namespace grappe::build {

struct RecipeFinding {
  size_t line = 0;  // 0: not a line of the file (a default)
  std::string message, fix;
  bool error = true;  // false: a warning
};

struct MirrorCheck {
  std::vector<RecipeFinding> findings;
  size_t packages_checked = 0;
  bool ok() const;  // no errors (warnings allowed)
};

// Throws MirrorUnreachable when the mirror cannot be asked, Error when its metadata is unusable.
MirrorCheck check_recipe_on_mirror(const Recipe& r, IndexSource& src);

// "recipes/x.toml line 12: package 'htopp' is not …\n  fix: did you mean `htop`? …"
std::string format_finding(const Recipe& r, const RecipeFinding& f);

}  // namespace grappe::build
