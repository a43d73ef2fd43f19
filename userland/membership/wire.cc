#include "membership/wire.h"

#include <sodium.h>

#include <cstring>

namespace grappe {
namespace {

constexpr uint8_t kMagic[3] = {'G', 'R', 'P'};
constexpr uint8_t kWireVersion = 2;  // 2: the load entry carries the /home role
constexpr size_t kHeader = 3 + 1 + 1 + 16 + 8;  // magic, version, type, sender, nonce

struct Writer {
  std::vector<uint8_t> b;
  void u8(uint8_t v) { b.push_back(v); }
  void u16(uint16_t v) { for (int i = 0; i < 2; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i))); }
  void u32(uint32_t v) { for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i))); }
  void u64(uint64_t v) { for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i))); }
  void id(const NodeId& v) { b.insert(b.end(), v.begin(), v.end()); }
  void str(const std::string& s) {
    size_t n = std::min(s.size(), kMaxName);
    u8(static_cast<uint8_t>(n));
    b.insert(b.end(), s.begin(), s.begin() + static_cast<long>(n));
  }
};

struct Reader {
  const uint8_t* p;
  size_t n, off = 0;
  bool ok = true;
  bool need(size_t k) {
    if (!ok || n - off < k) ok = false;
    return ok;
  }
  uint64_t le(size_t k) {
    if (!need(k)) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < k; ++i) v |= static_cast<uint64_t>(p[off + i]) << (8 * i);
    off += k;
    return v;
  }
  uint8_t u8() { return static_cast<uint8_t>(le(1)); }
  uint16_t u16() { return static_cast<uint16_t>(le(2)); }
  uint32_t u32() { return static_cast<uint32_t>(le(4)); }
  uint64_t u64() { return le(8); }
  NodeId id() {
    NodeId v{};
    if (need(16)) {
      std::memcpy(v.data(), p + off, 16);
      off += 16;
    }
    return v;
  }
  std::string str() {
    size_t k = u8();
    if (k > kMaxName || !need(k)) {
      ok = false;
      return {};
    }
    std::string s(reinterpret_cast<const char*>(p + off), k);
    off += k;
    for (char c : s)
      if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) ok = false;
    return s;
  }
};

void put_update(Writer& w, const MemberUpdate& u) {
  w.id(u.id);
  w.u32(u.incarnation);
  w.u8(static_cast<uint8_t>(u.state));
  w.u16(u.number);
  w.u32(u.ipv4);
  w.u16(u.port);
  w.str(u.name);
}

void put_load(Writer& w, const LoadInfo& l) {
  w.id(l.id);
  w.u32(l.version);
  w.u32(l.age_ms);
  w.u16(l.cpus);
  w.u32(l.speed);
  w.u32(l.load_milli);
  w.u32(l.mem_total_mb);
  w.u32(l.mem_free_mb);
  w.u16(l.jobs);
  w.u16(l.flags);
  w.u16(l.daemon_version);
  w.u32(l.netboot);
  w.u32(l.admission);
  w.u32(l.home);
  w.u16(l.home_peer);
  w.u32(l.home_mb);
  w.u32(l.home_used_mb);
  w.u32(l.home_free_mb);
}

std::vector<uint8_t> body(const Message& m) {
  Writer w;
  w.b.insert(w.b.end(), kMagic, kMagic + 3);
  w.u8(kWireVersion);
  w.u8(static_cast<uint8_t>(m.type));
  w.id(m.sender);
  w.u64(m.nonce);
  if (m.type == MsgType::Ping || m.type == MsgType::Ack || m.type == MsgType::PingReq) w.u32(m.seq);
  if (m.type == MsgType::Ping || m.type == MsgType::PingReq) w.id(m.target);
  if (m.type == MsgType::PingReq) {
    w.u32(m.target_ipv4);
    w.u16(m.target_port);
  }
  w.u8(static_cast<uint8_t>(std::min<size_t>(m.updates.size(), 255)));
  for (size_t i = 0; i < m.updates.size() && i < 255; ++i) put_update(w, m.updates[i]);
  w.u8(static_cast<uint8_t>(std::min<size_t>(m.loads.size(), 255)));
  for (size_t i = 0; i < m.loads.size() && i < 255; ++i) put_load(w, m.loads[i]);
  return w.b;
}

}  // namespace

std::string id_hex(const NodeId& id) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t b : id) {
    s += d[b >> 4];
    s += d[b & 15];
  }
  return s;
}

bool id_from_hex(const std::string& hex, NodeId& out) {
  if (hex.size() != 32) return false;
  for (size_t i = 0; i < 16; ++i) {
    auto nib = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int hi = nib(hex[2 * i]), lo = nib(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return true;
}

const char* state_name(MemberState s) {
  switch (s) {
    case MemberState::Alive: return "alive";
    case MemberState::Suspect: return "suspect";
    case MemberState::Dead: return "dead";
    case MemberState::Left: return "left";
  }
  return "?";
}

const char* decode_error_name(DecodeError e) {
  switch (e) {
    case DecodeError::None: return "none";
    case DecodeError::TooShort: return "truncated";
    case DecodeError::TooLong: return "oversized";
    case DecodeError::BadMagic: return "not grappe";
    case DecodeError::BadVersion: return "unknown version";
    case DecodeError::BadMac: return "bad signature (another cluster, or tampered)";
    case DecodeError::Malformed: return "malformed";
  }
  return "?";
}

size_t encoded_size(const Message& m) { return body(m).size() + kMacBytes; }

std::vector<uint8_t> encode(const Message& m, const ClusterKey& key) {
  auto b = body(m);
  if (b.size() + kMacBytes > kMaxPacket) return {};
  uint8_t mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256(mac, b.data(), b.size(), key.data());
  b.insert(b.end(), mac, mac + kMacBytes);
  return b;
}

std::optional<Message> decode(const uint8_t* data, size_t len, const ClusterKey& key, DecodeError& err) {
  err = DecodeError::None;
  if (len > kMaxPacket) return err = DecodeError::TooLong, std::nullopt;
  if (len < kHeader + 2 + kMacBytes) return err = DecodeError::TooShort, std::nullopt;
  if (std::memcmp(data, kMagic, 3) != 0) return err = DecodeError::BadMagic, std::nullopt;
  if (data[3] != kWireVersion) return err = DecodeError::BadVersion, std::nullopt;
  size_t blen = len - kMacBytes;
  if (crypto_auth_hmacsha256_verify(data + blen, data, blen, key.data()) != 0)
    return err = DecodeError::BadMac, std::nullopt;
  Reader r{data, blen};
  r.off = 4;
  Message m;
  uint8_t type = r.u8();
  if (type < 1 || type > 6) return err = DecodeError::Malformed, std::nullopt;
  m.type = static_cast<MsgType>(type);
  m.sender = r.id();
  m.nonce = r.u64();
  if (m.type == MsgType::Ping || m.type == MsgType::Ack || m.type == MsgType::PingReq) m.seq = r.u32();
  if (m.type == MsgType::Ping || m.type == MsgType::PingReq) m.target = r.id();
  if (m.type == MsgType::PingReq) {
    m.target_ipv4 = r.u32();
    m.target_port = r.u16();
  }
  size_t nu = r.u8();
  for (size_t i = 0; i < nu && r.ok; ++i) {
    MemberUpdate u;
    u.id = r.id();
    u.incarnation = r.u32();
    uint8_t st = r.u8();
    if (st > 3) r.ok = false;
    u.state = static_cast<MemberState>(st);
    u.number = r.u16();
    u.ipv4 = r.u32();
    u.port = r.u16();
    u.name = r.str();
    m.updates.push_back(std::move(u));
  }
  size_t nl = r.u8();
  for (size_t i = 0; i < nl && r.ok; ++i) {
    LoadInfo l;
    l.id = r.id();
    l.version = r.u32();
    l.age_ms = r.u32();
    l.cpus = r.u16();
    l.speed = r.u32();
    l.load_milli = r.u32();
    l.mem_total_mb = r.u32();
    l.mem_free_mb = r.u32();
    l.jobs = r.u16();
    l.flags = r.u16();
    l.daemon_version = r.u16();
    l.netboot = r.u32();
    l.admission = r.u32();
    l.home = r.u32();
    l.home_peer = r.u16();
    l.home_mb = r.u32();
    l.home_used_mb = r.u32();
    l.home_free_mb = r.u32();
    m.loads.push_back(l);
  }
  if (!r.ok || r.off != blen) return err = DecodeError::Malformed, std::nullopt;
  return m;
}

}  // namespace grappe
