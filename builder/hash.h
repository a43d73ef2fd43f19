// SHA-256 (libsodium) over strings, files and whole directory trees.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

#include <sodium.h>

namespace grappe::build {

class Sha256 {
 public:
  Sha256();
  Sha256& add(std::string_view data);
  // Adds a length-prefixed field so that ("ab","c") and ("a","bc") differ.
  Sha256& field(std::string_view name, std::string_view value);
  std::string hex();  // finalises; the object must not be used afterwards

 private:
  crypto_hash_sha256_state st_;
};

std::string sha256_hex(std::string_view data);
std::string sha256_file(const std::filesystem::path& p);
// Hash of a directory tree: relative paths (sorted), file types, exec bits, link targets and
// contents. Files matching none of the tree are skipped; mtimes and owners are ignored.
std::string sha256_tree(const std::filesystem::path& root);

}  // namespace grappe::build
