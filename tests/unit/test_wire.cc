#include <doctest/doctest.h>

#include <sodium.h>

#include "membership/replay.h"
#include "membership/wire.h"

using namespace grappe;

namespace {
ClusterKey key_of(uint8_t b) {
  ClusterKey k{};
  k.fill(b);
  return k;
}
Message sample() {
  Message m;
  m.type = MsgType::PingReq;
  m.sender[0] = 1;
  m.nonce = 123456789;
  m.seq = 42;
  m.target[0] = 2;
  m.target_ipv4 = 0x0100000a;
  m.target_port = 7423;
  MemberUpdate u;
  u.id[0] = 3;
  u.incarnation = 9;
  u.state = MemberState::Suspect;
  u.number = 4;
  u.port = 7423;
  u.name = "grappe-525400677201";
  m.updates = {u};
  LoadInfo l;
  l.id[0] = 3;
  l.version = 7;
  l.cpus = 2;
  l.speed = 1500;
  l.load_milli = 1250;
  l.mem_total_mb = 2048;
  l.mem_free_mb = 1024;
  l.netboot = (3 << 1) | 1;
  l.home = 5u << 8 | 6;  // the /home role: term 5, standby in sync
  l.home_peer = 3;
  l.home_mb = 384;
  m.loads = {l};
  return m;
}
}  // namespace

TEST_CASE("codec round trip of every message type") {
  auto k = key_of(7);
  for (auto t : {MsgType::Beacon, MsgType::Ping, MsgType::Ack, MsgType::PingReq, MsgType::Load, MsgType::Leave}) {
    Message m = sample();
    m.type = t;
    if (t != MsgType::PingReq) { m.target_ipv4 = 0; m.target_port = 0; }
    if (t != MsgType::PingReq && t != MsgType::Ping) m.target = {};
    if (t != MsgType::Ping && t != MsgType::Ack && t != MsgType::PingReq) m.seq = 0;
    auto bytes = encode(m, k);
    REQUIRE(!bytes.empty());
    DecodeError err;
    auto d = decode(bytes.data(), bytes.size(), k, err);
    REQUIRE(d);
    CHECK(*d == m);
    CHECK(encoded_size(m) == bytes.size());
  }
}

TEST_CASE("every malformed-packet class is refused with its reason") {
  auto k = key_of(7);
  auto good = encode(sample(), k);
  DecodeError err;
  SUBCASE("another cluster's key") {
    CHECK_FALSE(decode(good.data(), good.size(), key_of(8), err));
    CHECK(err == DecodeError::BadMac);
  }
  SUBCASE("tampered byte") {
    auto t = good;
    t[30] ^= 1;
    CHECK_FALSE(decode(t.data(), t.size(), k, err));
    CHECK(err == DecodeError::BadMac);
  }
  SUBCASE("truncated") {
    CHECK_FALSE(decode(good.data(), good.size() - 1, k, err));
    CHECK(err == DecodeError::BadMac);
    CHECK_FALSE(decode(good.data(), 20, k, err));
    CHECK(err == DecodeError::TooShort);
  }
  SUBCASE("oversized") {
    std::vector<uint8_t> big(kMaxPacket + 1, 0);
    CHECK_FALSE(decode(big.data(), big.size(), k, err));
    CHECK(err == DecodeError::TooLong);
  }
  SUBCASE("wrong magic and version") {
    auto t = good;
    t[0] = 'X';
    CHECK_FALSE(decode(t.data(), t.size(), k, err));
    CHECK(err == DecodeError::BadMagic);
    t = good;
    t[3] = 99;
    CHECK_FALSE(decode(t.data(), t.size(), k, err));
    CHECK(err == DecodeError::BadVersion);
  }
  SUBCASE("correctly signed but malformed body") {
    // Sign garbage with the right key: the parser must still refuse it.
    std::vector<uint8_t> body = {'G', 'R', 'P', 2, 2};  // version 2, a Ping
    body.resize(40, 0xff);
    uint8_t mac[32];
    crypto_auth_hmacsha256(mac, body.data(), body.size(), k.data());
    body.insert(body.end(), mac, mac + 32);
    CHECK_FALSE(decode(body.data(), body.size(), k, err));
    CHECK(err == DecodeError::Malformed);
  }
}

TEST_CASE("a message that would not fit in a datagram is not encoded") {
  Message m = sample();
  m.updates.assign(40, m.updates[0]);
  CHECK(encode(m, key_of(1)).empty());
}

TEST_CASE("replay window: each nonce once, reordering within 64, old ones refused") {
  ReplayWindow w;
  CHECK(w.accept(1000));
  CHECK_FALSE(w.accept(1000));
  CHECK(w.accept(1002));
  CHECK(w.accept(1001));  // late but inside the window
  CHECK_FALSE(w.accept(1001));
  CHECK(w.accept(2000));
  CHECK_FALSE(w.accept(1002));  // fell out of the window
  CHECK(w.accept(1990));
  CHECK_FALSE(w.accept(1936));
}
