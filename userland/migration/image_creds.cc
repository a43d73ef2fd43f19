#include "migration/image_creds.h"

#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace grappe {
namespace {

namespace fs = std::filesystem;
constexpr size_t kMaxCoreImage = 1 << 20;  // a core image is a few KB (registers, FPU state)
constexpr uint32_t kCommonMagic = 0x54564319, kServiceMagic = 0x55105940;

// A bounded protobuf reader: one field at a time.
struct Pb {
  const unsigned char* p;
  const unsigned char* end;
  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64 && p < end; shift += 7) {
      const unsigned char b = *p++;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  // Next field: its number, wire type, and for wire type 0 the value, for 2 the bytes.
  bool next(uint32_t& field, int& wt, uint64_t& value, std::string_view& bytes) {
    uint64_t key = 0;
    if (!varint(key) || key >> 3 == 0 || key >> 3 > 536870911) return false;
    field = static_cast<uint32_t>(key >> 3);
    wt = static_cast<int>(key & 7);
    switch (wt) {
      case 0: return varint(value);
      case 1: if (end - p < 8) return false; p += 8; return true;
      case 5: if (end - p < 4) return false; p += 4; return true;
      case 2: {
        uint64_t n = 0;
        if (!varint(n) || n > static_cast<uint64_t>(end - p)) return false;
        bytes = std::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
        p += n;
        return true;
      }
      default: return false;  // groups (3, 4) and reserved types: not in these messages
    }
  }
};

Pb reader(std::string_view s) {
  auto* b = reinterpret_cast<const unsigned char*>(s.data());
  return {b, b + s.size()};
}

// The embedded messages with number `want` of `msg`, concatenated (protobuf merges them).
bool submessage(std::string_view msg, uint32_t want, std::string& out) {
  Pb r = reader(msg);
  while (r.p < r.end) {
    uint32_t f;
    int wt;
    uint64_t v = 0;
    std::string_view b;
    if (!r.next(f, wt, v, b)) return false;
    if (f == want) {
      if (wt != 2) return false;
      out.append(b);
    }
  }
  return true;
}

bool repeated_u32(int wt, uint64_t v, std::string_view packed, std::vector<uint32_t>& out) {
  if (wt == 0) return v <= UINT32_MAX && (out.push_back(static_cast<uint32_t>(v)), true);
  if (wt != 2) return false;
  Pb r = reader(packed);
  while (r.p < r.end) {
    uint64_t x;
    if (!r.varint(x) || x > UINT32_MAX) return false;
    out.push_back(static_cast<uint32_t>(x));
  }
  return true;
}

bool parse_creds(std::string_view msg, ImageCreds& c) {
  Pb r = reader(msg);
  uint32_t* ids[] = {&c.uid, &c.gid, &c.euid, &c.egid, &c.suid, &c.sgid, &c.fsuid, &c.fsgid};
  while (r.p < r.end) {
    uint32_t f;
    int wt;
    uint64_t v = 0;
    std::string_view b;
    if (!r.next(f, wt, v, b)) return false;
    if (f >= 1 && f <= 8) {
      if (wt != 0 || v > UINT32_MAX) return false;
      *ids[f - 1] = static_cast<uint32_t>(v);
      c.seen |= 1u << (f - 1);
    } else if (f == 9 || f == 10 || f == 11 || f == 14) {
      auto& list = f == 9 ? c.cap_inh : f == 10 ? c.cap_prm : f == 11 ? c.cap_eff : c.groups;
      if (!repeated_u32(wt, v, b, list) || list.size() > 65536) return false;
    }
  }
  return true;
}

}  // namespace

bool parse_core_creds(const std::string& bytes, ImageCreds& out, std::string& why) {
  if (bytes.size() > kMaxCoreImage) return why = "core image over 1 MiB", false;
  auto u32 = [&](size_t at) {
    return static_cast<uint32_t>(static_cast<unsigned char>(bytes[at])) |
           static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + 1])) << 8 |
           static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + 2])) << 16 |
           static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + 3])) << 24;
  };
  if (bytes.size() < 12) return why = "core image too short", false;
  // Header: CRIU's common (or service) magic then the image's own, or (older images) only the latter.
  const size_t start = u32(0) == kCommonMagic || u32(0) == kServiceMagic ? 8 : 4;
  const uint32_t size = u32(start);
  if (size > bytes.size() - start - 4) return why = "core image entry runs past the file", false;
  std::string thread_core, creds, tc;
  const std::string_view entry(bytes.data() + start + 4, size);
  if (!submessage(entry, 5, thread_core) || !submessage(thread_core, 10, creds) || !submessage(entry, 3, tc))
    return why = "core image is not a well-formed core entry", false;
  if (thread_core.empty()) {  // a zombie's core: task state only (TASK_DEAD), nothing to run
    Pb r = reader(tc);
    uint64_t state = 0;
    while (r.p < r.end) {
      uint32_t f;
      int wt;
      uint64_t v = 0;
      std::string_view b;
      if (!r.next(f, wt, v, b)) return why = "core image task state is malformed", false;
      if (f == 1 && wt == 0) state = v;
    }
    if (state != 2) return why = "core image holds no credentials", false;
    out = ImageCreds{};
    out.zombie = true;
    return true;
  }
  if (creds.empty()) return why = "core image holds no credentials", false;
  ImageCreds c;
  if (!parse_creds(creds, c)) return why = "core image credentials are malformed", false;
  if (c.seen != 0xff) return why = "core image credentials lack a uid or gid field", false;
  out = std::move(c);
  return true;
}

std::string creds_mismatch(const ImageCreds& c, uid_t uid, const std::vector<uint32_t>& groups) {
  if (c.zombie) return "";
  for (uint32_t u : {c.uid, c.euid, c.suid, c.fsuid})
    if (u != uid) return "it runs as uid " + std::to_string(u) + ", the offer says " + std::to_string(uid);
  if (uid == 0) return "";
  auto member = [&](uint32_t g) { return std::find(groups.begin(), groups.end(), g) != groups.end(); };
  for (uint32_t g : {c.gid, c.egid, c.sgid, c.fsgid})
    if (!member(g)) return "it runs as gid " + std::to_string(g) + ", not a group of uid " + std::to_string(uid) + " here";
  for (uint32_t g : c.groups)
    if (!member(g)) return "it holds group " + std::to_string(g) + ", not a group of uid " + std::to_string(uid) + " here";
  auto none = [](const std::vector<uint32_t>& caps) { return std::all_of(caps.begin(), caps.end(), [](uint32_t w) { return w == 0; }); };
  if (!none(c.cap_eff) || !none(c.cap_prm) || !none(c.cap_inh))
    return "it holds capabilities, which a job of uid " + std::to_string(uid) + " does not";
  return "";
}

std::string vet_image_creds(const std::string& dir, uid_t uid, const std::vector<uint32_t>& groups) {
  if (uid != 0 && groups.empty()) return "uid " + std::to_string(uid) + " is not a user of this node";
  std::error_code ec;
  int cores = 0;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("creds-", 0) == 0) return name + ": legacy credential images are not accepted";
    if (name.rfind("userns-", 0) == 0) return name + ": a job with a user namespace of its own cannot move";
    if (name.rfind("core-", 0) != 0 || name.size() < 9 || name.compare(name.size() - 4, 4, ".img") != 0) continue;
    if (!e.is_regular_file(ec) || e.file_size(ec) > kMaxCoreImage) return name + ": not a regular file of at most 1 MiB";
    std::ifstream in(e.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ImageCreds c;
    std::string why;
    if (!parse_core_creds(bytes, c, why)) return name + ": " + why;
    if (why = creds_mismatch(c, uid, groups); !why.empty()) return name + ": " + why;
    ++cores;
  }
  if (ec) return "cannot list " + dir + ": " + ec.message();
  return cores ? "" : "no core image in " + dir;
}

std::vector<uint32_t> groups_of(uid_t uid) {
  std::vector<char> buf(16384);
  passwd pw{}, *res = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &res) != 0 || !res) return {};
  int n = 64;
  std::vector<gid_t> gs(static_cast<size_t>(n));
  if (getgrouplist(pw.pw_name, pw.pw_gid, gs.data(), &n) < 0) {
    gs.resize(static_cast<size_t>(n));
    if (getgrouplist(pw.pw_name, pw.pw_gid, gs.data(), &n) < 0) return {pw.pw_gid};
  }
  gs.resize(static_cast<size_t>(n));
  return std::vector<uint32_t>(gs.begin(), gs.end());
}

}  // namespace grappe
