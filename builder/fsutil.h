// Filesystem helpers for crash-safe outputs: temporary names, atomic publication, cleanup of
// leftovers from an interrupted run.
#pragma once
#include <filesystem>
#include <string>

namespace grappe::build {

// The file's bytes; throws Error naming it when it cannot be read (common/text_file.h underneath).
std::string read_file(const std::filesystem::path& p);
// Writes to <p>.tmp-<pid>, fsyncs and renames over p.
void write_file_atomic(const std::filesystem::path& p, const std::string& data, unsigned mode = 0644);
// Moves a finished file or directory to its final path; an existing directory is swapped
// atomically (renameat2 RENAME_EXCHANGE) and then removed, so the final path is never missing.
void publish(const std::filesystem::path& tmp, const std::filesystem::path& final_path);
// Removes a tree after lazily unmounting anything still mounted below it (an interrupted
// chroot build can leave /proc mounted inside), so removal never walks into a live mount.
void remove_tree_safely(const std::filesystem::path& p);
// A unique temporary sibling name for `final_path` (".<name>.tmp-<pid>").
std::filesystem::path temp_sibling(const std::filesystem::path& final_path);
// Hard-links src to dst, copying when they are on different filesystems.
void link_or_copy(const std::filesystem::path& src, const std::filesystem::path& dst);
// Bytes used by regular files below p.
uint64_t tree_size(const std::filesystem::path& p);
std::string human_size(uint64_t bytes);

}  // namespace grappe::build
