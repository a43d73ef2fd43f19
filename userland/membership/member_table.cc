#include "membership/member_table.h"

#include <cstring>
#include <mutex>
#include <unordered_set>

namespace grappe {
namespace {

const std::string* intern(const std::string& s) {
  static std::mutex mu;
  static std::unordered_set<std::string> pool;  // grows with distinct names only: bounded by the
                                                // authenticated peers a node ever heard of
  std::lock_guard<std::mutex> lock(mu);
  return &*pool.insert(s).first;
}

}  // namespace

Name::Name() : p_(intern("")) {}
Name::Name(const std::string& s) : p_(intern(s)) {}

size_t MemberTable::home(const NodeId& id) const {
  uint64_t h;
  std::memcpy(&h, id.data() + 4, sizeof h);  // ids are hashes: any 8 bytes spread well
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 32;
  return static_cast<size_t>(h) & (index_.size() - 1);
}

Member* MemberTable::find(const NodeId& id) {
  if (index_.empty()) return nullptr;
  for (size_t i = home(id);; i = (i + 1) & (index_.size() - 1)) {
    uint32_t s = index_[i];
    if (s == 0) return nullptr;
    if (v_[s - 1].id == id) return &v_[s - 1];
  }
}

void MemberTable::rehash(size_t buckets) {
  index_.assign(buckets, 0);
  for (uint32_t s = 0; s < v_.size(); ++s) {
    size_t i = home(v_[s].id);
    while (index_[i] != 0) i = (i + 1) & (buckets - 1);
    index_[i] = s + 1;
  }
}

void MemberTable::reserve(size_t n) {
  v_.reserve(n);
  size_t buckets = 16;
  while (buckets < 2 * n) buckets *= 2;
  if (buckets > index_.size()) rehash(buckets);
}

uint32_t MemberTable::insert(Member m) {
  if (2 * (v_.size() + 1) > index_.size()) rehash(index_.empty() ? 16 : index_.size() * 2);
  uint32_t slot = static_cast<uint32_t>(v_.size());
  size_t i = home(m.id);
  while (index_[i] != 0) i = (i + 1) & (index_.size() - 1);
  index_[i] = slot + 1;
  v_.push_back(std::move(m));
  return slot;
}

}  // namespace grappe
