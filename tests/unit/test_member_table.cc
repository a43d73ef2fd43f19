#include <doctest/doctest.h>

#include <random>

#include "membership/member_table.h"

using namespace grappe;

namespace {
NodeId id_of(uint64_t seed) {
  std::mt19937_64 r(seed);
  NodeId id{};
  for (auto& b : id) b = static_cast<uint8_t>(r());
  return id;
}
}  // namespace

TEST_CASE("member table: every inserted id is found at its slot, absent ids are not, across regrowth") {
  MemberTable t;
  CHECK(t.find(id_of(1)) == nullptr);  // empty table
  for (uint64_t i = 0; i < 5000; ++i) {
    Member m;
    m.id = id_of(i);
    m.number = static_cast<uint16_t>(i + 1);
    CHECK(t.insert(std::move(m)) == i);
  }
  REQUIRE(t.size() == 5000);
  for (uint64_t i = 0; i < 5000; ++i) {
    const Member* m = t.find(id_of(i));
    REQUIRE(m);
    CHECK(m->number == i + 1);
    CHECK(t.slot_of(*m) == i);
  }
  for (uint64_t i = 5000; i < 6000; ++i) CHECK(t.find(id_of(i)) == nullptr);
}

TEST_CASE("member table: ids differing only outside the hashed bytes still resolve apart") {
  MemberTable t;
  for (uint8_t i = 0; i < 200; ++i) {
    Member m;
    m.id = NodeId{};
    m.id[15] = i;  // every id hashes to the same bucket: probing must still tell them apart
    m.number = i;
    t.insert(std::move(m));
  }
  for (uint8_t i = 0; i < 200; ++i) {
    NodeId id{};
    id[15] = i;
    REQUIRE(t.find(id));
    CHECK(t.find(id)->number == i);
  }
}

TEST_CASE("names are interned: equal text, same name; the text survives") {
  Name a("grappe-525400677201"), b(std::string("grappe-") + "525400677201"), c("other");
  CHECK(a == b);
  CHECK_FALSE(a == c);
  CHECK(a.str() == "grappe-525400677201");
  CHECK(Name().str().empty());
}
