#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "migration/image_creds.h"

using namespace grappe;
namespace fs = std::filesystem;

namespace {

// A minimal protobuf writer, enough to build the core_entry CRIU writes.
std::string varint(uint64_t v) {
  std::string s;
  do {
    unsigned char b = v & 0x7f;
    v >>= 7;
    s.push_back(static_cast<char>(b | (v ? 0x80 : 0)));
  } while (v);
  return s;
}
std::string field_varint(uint32_t f, uint64_t v) { return varint(uint64_t{f} << 3) + varint(v); }
std::string field_bytes(uint32_t f, const std::string& b) { return varint((uint64_t{f} << 3) | 2) + varint(b.size()) + b; }

struct Creds {
  uint32_t ids[8] = {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000};
  std::vector<uint32_t> eff = {0, 0}, prm = {0, 0}, groups = {1000};
  bool packed = false;
};
std::string creds_msg(const Creds& c) {
  std::string m;
  for (uint32_t f = 1; f <= 8; ++f) m += field_varint(f, c.ids[f - 1]);
  auto rep = [&](uint32_t f, const std::vector<uint32_t>& v) {
    if (c.packed) {
      std::string p;
      for (uint32_t x : v) p += varint(x);
      m += field_bytes(f, p);
    } else {
      for (uint32_t x : v) m += field_varint(f, x);
    }
  };
  rep(9, {0, 0});
  rep(10, c.prm);
  rep(11, c.eff);
  rep(12, {0xffffffff, 0x1ff});  // the bounding set: ignored
  m += field_varint(13, 0);
  rep(14, c.groups);
  return m;
}
// core_entry { mtype = 1; thread_info (2) = {...}; tc (3) = {...}; thread_core (5) = { futex_rla; creds (10) } }
std::string core_image(const std::string& creds, bool common_magic = true, const std::string& extra_thread_core = "") {
  std::string thread_core = field_varint(1, 0) + field_varint(2, 24) + field_varint(3, 0) + field_bytes(10, creds) + extra_thread_core;
  std::string entry = field_varint(1, 1) + field_bytes(2, std::string(64, '\x08')) + field_bytes(3, field_bytes(6, "sleep")) +
                      field_bytes(5, thread_core);
  auto u32 = [](uint32_t v) { return std::string{static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16), static_cast<char>(v >> 24)}; };
  return (common_magic ? u32(0x54564319) : "") + u32(0x55053847) + u32(static_cast<uint32_t>(entry.size())) + entry;
}

}  // namespace

TEST_CASE("image credentials: read from core images the way protobuf would, bounded") {
  ImageCreds c;
  std::string why;
  for (bool packed : {false, true})
    for (bool magic : {true, false}) {
      Creds k;
      k.packed = packed;
      k.groups = {1000, 24, 100};
      REQUIRE_MESSAGE(parse_core_creds(core_image(creds_msg(k), magic), c, why), why);
      CHECK(c.uid == 1000);
      CHECK(c.fsgid == 1000);
      CHECK(c.groups == std::vector<uint32_t>{1000, 24, 100});
      CHECK(c.cap_eff == std::vector<uint32_t>{0, 0});
    }
  // A second creds message merges into the first, as protobuf-c would restore it: uid 0 wins.
  Creds root;
  for (auto& id : root.ids) id = 0;
  REQUIRE(parse_core_creds(core_image(creds_msg(Creds{}), true, field_bytes(10, creds_msg(root))), c, why));
  CHECK(c.uid == 0);
  // Malformed: truncated, no creds, missing ids, an entry size past the end, junk.
  const std::string good = core_image(creds_msg(Creds{}));
  for (size_t cut : {size_t{3}, size_t{11}, good.size() / 2, good.size() - 1}) CHECK_FALSE(parse_core_creds(good.substr(0, cut), c, why));
  CHECK_FALSE(parse_core_creds(core_image(""), c, why));
  // A zombie's core: no thread_core, task state TASK_DEAD (2): accepted, it runs nothing.
  {
    const std::string entry = field_varint(1, 1) + field_bytes(3, field_varint(1, 2) + field_bytes(6, "defunct"));
    auto u32 = [](uint32_t v) { return std::string{static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16), static_cast<char>(v >> 24)}; };
    const std::string zombie = u32(0x54564319) + u32(0x55053847) + u32(static_cast<uint32_t>(entry.size())) + entry;
    REQUIRE(parse_core_creds(zombie, c, why));
    CHECK(c.zombie);
    CHECK(creds_mismatch(c, 1000, {1000}) == "");
    const std::string alive_entry = field_varint(1, 1) + field_bytes(3, field_varint(1, 1));  // alive, no creds
    CHECK_FALSE(parse_core_creds(u32(0x54564319) + u32(0x55053847) + u32(static_cast<uint32_t>(alive_entry.size())) + alive_entry, c, why));
    CHECK(why.find("no credentials") != std::string::npos);
  }
  CHECK_FALSE(parse_core_creds(core_image(field_varint(1, 1000)), c, why));
  CHECK(why.find("lack a uid or gid") != std::string::npos);
  CHECK_FALSE(parse_core_creds(std::string(2 << 20, '\0'), c, why));
  std::string junk(300, '\0');
  for (int n = 0; n < 3000; ++n) {
    for (auto& ch : junk) ch = static_cast<char>(std::rand());
    (void)parse_core_creds(junk, c, why);  // never crashes or reads out of bounds (ASan in fuzz-wire)
  }
}

TEST_CASE("image credentials: what the offer claims, or refused") {
  const std::vector<uint32_t> groups = {1000, 24};
  ImageCreds c;
  std::string why;
  REQUIRE(parse_core_creds(core_image(creds_msg(Creds{})), c, why));
  CHECK(creds_mismatch(c, 1000, groups) == "");
  CHECK(creds_mismatch(c, 1001, groups).find("runs as uid 1000, the offer says 1001") != std::string::npos);
  Creds root;
  for (auto& id : root.ids) id = 0;
  REQUIRE(parse_core_creds(core_image(creds_msg(root)), c, why));
  CHECK(creds_mismatch(c, 1000, groups).find("runs as uid 0, the offer says 1000") != std::string::npos);
  CHECK(creds_mismatch(c, 0, {}) == "");  // root's job: root's credentials
  Creds setuid;  // a saved set-user-id of root is root too
  setuid.ids[4] = 0;
  REQUIRE(parse_core_creds(core_image(creds_msg(setuid)), c, why));
  CHECK(creds_mismatch(c, 1000, groups).find("uid 0") != std::string::npos);
  Creds shadow;  // a group the user is not in
  shadow.ids[3] = 42;
  REQUIRE(parse_core_creds(core_image(creds_msg(shadow)), c, why));
  CHECK(creds_mismatch(c, 1000, groups).find("gid 42") != std::string::npos);
  Creds extra;
  extra.groups = {1000, 0};
  REQUIRE(parse_core_creds(core_image(creds_msg(extra)), c, why));
  CHECK(creds_mismatch(c, 1000, groups).find("holds group 0") != std::string::npos);
  Creds caps;
  caps.eff = {0x200000, 0};  // CAP_SYS_ADMIN
  REQUIRE(parse_core_creds(core_image(creds_msg(caps)), c, why));
  CHECK(creds_mismatch(c, 1000, groups).find("capabilities") != std::string::npos);
}

TEST_CASE("image credentials: every core image of a directory is vetted") {
  const fs::path d = fs::temp_directory_path() / ("grappe-creds-" + std::to_string(::getpid()));
  fs::create_directories(d);
  auto put = [&](const std::string& name, const std::string& bytes) { std::ofstream(d / name, std::ios::binary) << bytes; };
  CHECK(vet_image_creds(d.string(), 1000, {1000}).find("no core image") != std::string::npos);
  put("core-1.img", core_image(creds_msg(Creds{})));
  put("core-7.img", core_image(creds_msg(Creds{})));
  put("pages-1.img", std::string(100, 'p'));
  CHECK(vet_image_creds(d.string(), 1000, {1000}) == "");
  CHECK(vet_image_creds(d.string(), 1000, {}).find("not a user of this node") != std::string::npos);
  Creds root;
  for (auto& id : root.ids) id = 0;
  put("core-9.img", core_image(creds_msg(root)));  // one thread of the tree runs as root
  CHECK(vet_image_creds(d.string(), 1000, {1000}).find("core-9.img: it runs as uid 0") != std::string::npos);
  fs::remove(d / "core-9.img");
  put("creds-1.img", "legacy");
  CHECK(vet_image_creds(d.string(), 1000, {1000}).find("creds-1.img: legacy") != std::string::npos);
  fs::remove(d / "creds-1.img");
  put("userns-13.img", "ns");
  CHECK(vet_image_creds(d.string(), 1000, {1000}).find("userns-13.img: a job with a user namespace") != std::string::npos);
  fs::remove_all(d);
  CHECK_FALSE(groups_of(0).empty());  // root exists everywhere
  CHECK(groups_of(0).front() == 0);
}
