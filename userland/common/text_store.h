// The filesystem seam for small state files (a JSON file in /var/lib/grappe): read one whole,
// write one atomically (a temporary sibling, flushed, then renamed over it), so a crash leaves
// the old file or the new one, never half of one. Tests use an in-memory store.
#pragma once
#include <optional>
#include <string>

namespace grappe {

class TextStore {
 public:
  virtual ~TextStore() = default;
  virtual std::optional<std::string> read(const std::string& path) const = 0;  // nullopt: unreadable
  virtual std::string write(const std::string& path, const std::string& text) = 0;  // "" or why not
};

// The real filesystem: the parent directory is created; `<path>.tmp` then rename(2). Never throws.
class FileStore final : public TextStore {
 public:
  std::optional<std::string> read(const std::string& path) const override;
  std::string write(const std::string& path, const std::string& text) override;
};

}  // namespace grappe
