#include "hash.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <vector>

#include "error.h"

namespace fs = std::filesystem;

namespace grappe::build {

Sha256::Sha256() {
  if (sodium_init() < 0) throw Error("libsodium failed to initialise");
  crypto_hash_sha256_init(&st_);
}

Sha256& Sha256::add(std::string_view d) {
  crypto_hash_sha256_update(&st_, reinterpret_cast<const unsigned char*>(d.data()), d.size());
  return *this;
}

Sha256& Sha256::field(std::string_view name, std::string_view value) {
  add(name).add("=").add(std::to_string(value.size())).add(":").add(value).add("\n");
  return *this;
}

std::string Sha256::hex() {
  std::array<unsigned char, crypto_hash_sha256_BYTES> out{};
  crypto_hash_sha256_final(&st_, out.data());
  std::string s(out.size() * 2 + 1, '\0');
  sodium_bin2hex(s.data(), s.size(), out.data(), out.size());
  s.pop_back();
  return s;
}

std::string sha256_hex(std::string_view data) { return Sha256().add(data).hex(); }

std::string sha256_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error("cannot read file for hashing", p.string(), "check that it exists and is readable");
  Sha256 h;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.add(std::string_view(buf.data(), static_cast<size_t>(in.gcount())));
  }
  return h.hex();
}

std::string sha256_tree(const fs::path& root) {
  if (!fs::is_directory(root)) throw Error("not a directory", root.string(), "check the path");
  std::vector<fs::path> entries;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it)
    entries.push_back(it->path());
  std::sort(entries.begin(), entries.end());
  Sha256 h;
  for (const auto& p : entries) {
    auto rel = fs::relative(p, root).generic_string();
    auto st = fs::symlink_status(p);
    if (fs::is_symlink(st)) {
      h.field("link " + rel, fs::read_symlink(p).string());
    } else if (fs::is_directory(st)) {
      h.field("dir", rel);
    } else if (fs::is_regular_file(st)) {
      bool exec = (st.permissions() & fs::perms::owner_exec) != fs::perms::none;
      h.field(exec ? "exe " + rel : "file " + rel, sha256_file(p));
    }
  }
  return h.hex();
}

}  // namespace grappe::build
