// The member table of one node, compact enough that a simulator can hold 10,000 nodes each
// knowing 10,000 others (10^8 entries) in one process: members live in a flat vector (slots
// never move or disappear; dead members stay so their numbers stay taken), ids are found through
// an open-addressing index of 4-byte slot numbers, names are interned, and the load entry is
// allocated only for members that publish one.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "membership/wire.h"

namespace grappe {

// An interned, immutable host name: 8 bytes per member instead of a string each.
class Name {
 public:
  Name();
  explicit Name(const std::string& s);
  const std::string& str() const { return *p_; }
  bool operator==(const Name& o) const { return p_ == o.p_; }

 private:
  const std::string* p_;
};

struct MemberLoad {
  LoadInfo info;
  double time = 0;  // local time the entry was fresh at its origin
};

struct Member {
  NodeId id{};
  Name name;
  uint16_t number = 0;
  uint16_t port = 0;
  uint32_t ipv4 = 0;  // network order
  uint32_t incarnation = 0;
  MemberState state = MemberState::Alive;
  uint32_t live_pos = kNotLive;  // position in the owner's live list
  double state_since = 0;
  double last_heard = 0;
  std::unique_ptr<MemberLoad> load;  // null until the member's load is heard of
  static constexpr uint32_t kNotLive = UINT32_MAX;
};

class MemberTable {
 public:
  Member* find(const NodeId& id);
  const Member* find(const NodeId& id) const { return const_cast<MemberTable*>(this)->find(id); }
  // Adds a member not in the table yet; returns its slot.
  uint32_t insert(Member m);
  Member& operator[](uint32_t slot) { return v_[slot]; }
  const Member& operator[](uint32_t slot) const { return v_[slot]; }
  uint32_t slot_of(const Member& m) const { return static_cast<uint32_t>(&m - v_.data()); }
  size_t size() const { return v_.size(); }
  void reserve(size_t n);
  auto begin() const { return v_.begin(); }
  auto end() const { return v_.end(); }

 private:
  size_t home(const NodeId& id) const;
  void rehash(size_t buckets);
  std::vector<Member> v_;
  std::vector<uint32_t> index_;  // slot + 1; 0 = empty; size is a power of two, at most half full
};

}  // namespace grappe
