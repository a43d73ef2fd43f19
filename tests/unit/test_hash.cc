#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "hash.h"

namespace fs = std::filesystem;
using namespace grappe::build;

TEST_CASE("sha256 of known input") {
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("field hashing is unambiguous") {
  CHECK(Sha256().field("a", "bc").hex() != Sha256().field("ab", "c").hex());
  CHECK(Sha256().field("k", "v").hex() == Sha256().field("k", "v").hex());
}

TEST_CASE("tree hash: same content same key, any change a new key") {
  fs::path d = fs::temp_directory_path() / "grappe-hash-test";
  fs::remove_all(d);
  fs::create_directories(d / "sub");
  std::ofstream(d / "a") << "one";
  std::ofstream(d / "sub/b") << "two";
  auto h1 = sha256_tree(d);
  CHECK(sha256_tree(d) == h1);
  fs::last_write_time(d / "a", fs::file_time_type::clock::now() - std::chrono::hours(5));
  CHECK(sha256_tree(d) == h1);  // mtimes do not matter
  std::ofstream(d / "sub/b") << "changed";
  auto h2 = sha256_tree(d);
  CHECK(h2 != h1);
  fs::permissions(d / "a", fs::perms::owner_exec, fs::perm_options::add);
  CHECK(sha256_tree(d) != h2);  // exec bit matters
  auto h3 = sha256_tree(d);
  fs::rename(d / "a", d / "c");
  CHECK(sha256_tree(d) != h3);  // names matter
  fs::create_symlink("c", d / "link");
  auto h4 = sha256_tree(d);
  fs::remove(d / "link");
  fs::create_symlink("sub", d / "link");
  CHECK(sha256_tree(d) != h4);  // link targets matter
  fs::remove_all(d);
}
