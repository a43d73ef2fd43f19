// The cluster's credentials (boot/credentials.h), the operating key's epochs
// (membership/key_ring.h) and the rejoin exchange of a node booted from a medium (boot/rejoin.h).
#include <doctest/doctest.h>

#include <sodium.h>

#include "boot/credentials.h"
#include "boot/rejoin.h"
#include "identity.h"
#include "membership/key_ring.h"

using namespace grappe;

namespace {
ClusterSecret random_secret() {
  ClusterSecret k{};
  randombytes_buf(k.data(), k.size());
  return k;
}
}  // namespace

TEST_CASE("credentials: an invitation gives epoch 0's key, the boot key and the join key; none is the invitation") {
  REQUIRE(sodium_init() >= 0);
  const ClusterSecret inv = random_secret();
  const Credentials c = credentials_from_invitation(inv);
  CHECK(c.invited);
  CHECK(c.epoch == 0);
  CHECK(c.op != inv);
  CHECK(boot_keys(c).pub == boot_signing_keys(inv).pub);  // what the builder puts in the initrd
  CHECK(c.join_pub != boot_keys(c).pub);
  CHECK(credentials_from_invitation(inv).op == c.op);  // deterministic: every medium of the directory agrees
  CHECK(credentials_from_invitation(random_secret()).op != c.op);
  std::string why;
  auto parsed = parse_credentials(to_hex(inv) + "\n", why);
  REQUIRE(parsed);
  CHECK(parsed->invited);
  CHECK(parsed->op == c.op);
  // A member line: no invitation in it, and nothing else accepted.
  Credentials m = c;
  m.invited = false;
  m.epoch = 7;
  m.op = random_secret();
  const std::string line = format_member(m);
  CHECK(line.find(to_hex(inv)) == std::string::npos);
  auto back = parse_credentials(line, why);
  REQUIRE(back);
  CHECK_FALSE(back->invited);
  CHECK(back->epoch == 7);
  CHECK(back->op == m.op);
  CHECK(back->boot_seed == m.boot_seed);
  CHECK(back->join_pub == m.join_pub);
  for (const std::string& bad : {std::string(""), std::string(63, 'a'), std::string(64, 'g'), std::string("grappe-member 2 1 ") + line.substr(18),
                                line.substr(0, line.size() - 3), line + " extra", std::string("grappe-member 1 -1 ") + line.substr(18)}) {
    INFO(bad);
    CHECK_FALSE(parse_credentials(bad, why));
    CHECK_FALSE(why.empty());
  }
  CHECK(member_from_blob(member_blob(m)).op == m.op);
  CHECK(member_from_blob(member_blob(m)).epoch == 7);
}

TEST_CASE("key ring: a staged key is accepted at once, sent with once committed, the old one kept for a grace") {
  ClusterKey a{}, b{}, c{}, d{};
  a.fill(1), b.fill(2), c.fill(3), d.fill(4);
  KeyRing r({0, a});
  CHECK(r.accepted(0).size() == 1);
  CHECK(r.stage({0, b}, 0) == StageResult::Old);
  CHECK(r.stage({KeyRing::kMaxStep + 1, b}, 0) == StageResult::Old);  // absurdly far ahead
  CHECK(r.stage({1, b}, 10) == StageResult::Staged);
  CHECK(r.stage({1, b}, 10) == StageResult::Same);       // the same rekey told twice
  CHECK(r.stage({1, c}, 10) == StageResult::Conflict);   // two rekeys at once: the second is refused
  CHECK(r.current().key == a);  // still sending with the old one
  auto acc = r.accepted(10);
  REQUIRE(acc.size() == 2);
  CHECK(acc[1].key == b);
  CHECK_FALSE(r.commit(2, 11));  // not the staged epoch
  CHECK(r.commit(1, 11));
  CHECK(r.current().epoch == 1);
  CHECK(r.current().key == b);
  acc = r.accepted(11 + KeyRing::kGraceS - 1);
  REQUIRE(acc.size() == 2);
  CHECK(acc[1].key == a);                                  // the old key during its grace
  CHECK(r.accepted(11 + KeyRing::kGraceS + 1).size() == 1);  // then never again
  // A forget's rekey: no grace for the old key.
  CHECK(r.stage({2, c}, 100, false) == StageResult::Staged);
  CHECK(r.commit(2, 100));
  CHECK(r.accepted(100).size() == 1);
  // A staged key nobody commits expires, and a later rekey may stage again.
  CHECK(r.stage({3, d}, 200) == StageResult::Staged);
  CHECK(r.stage({4, a}, 201) == StageResult::Conflict);  // one rekey at a time, whatever its epoch
  CHECK(r.staged(200 + KeyRing::kStagedS - 1));
  CHECK_FALSE(r.commit(3, 200 + KeyRing::kStagedS + 1));  // too late: members dropped it too
  CHECK_FALSE(r.staged(200 + KeyRing::kStagedS + 1));
  CHECK(r.accepted(200 + KeyRing::kStagedS + 1).size() == 1);
  CHECK(r.stage({3, a}, 200 + KeyRing::kStagedS + 1) == StageResult::Staged);
  r.unstage(3);  // the rekey that staged it was abandoned
  CHECK_FALSE(r.staged(240));
  // A rejoin installs a newer key outright; an older one is refused.
  CHECK_FALSE(r.install({1, a}, 300));
  CHECK(r.install({5, a}, 300));
  CHECK(r.current().epoch == 5);
  CHECK(key_fingerprint(a).size() == 16);
  CHECK(key_fingerprint(a) != key_fingerprint(b));
}

TEST_CASE("rejoin: only an invitation holder can ask; only an invitation holder can answer, and only to the asker") {
  REQUIRE(sodium_init() >= 0);
  const ClusterSecret inv = random_secret(), other = random_secret();
  const Credentials c = credentials_from_invitation(inv);
  const auto reply_sec = rejoin_reply_secret(inv);
  const auto reply_pub = rejoin_reply_public(inv);
  CHECK(reply_pub != boot_keys(c).pub);
  BoxPublic pk{}, pk2{};
  BoxSecret sk{}, sk2{};
  crypto_box_keypair(pk.data(), sk.data());
  crypto_box_keypair(pk2.data(), sk2.data());
  RejoinRequest req;
  req.epoch = 0;
  req.id.fill(0xab);
  req.pk = pk;
  auto wire = make_rejoin_request(join_secret(inv), req);
  CHECK(wire.size() == kRejoinRequestBytes);
  CHECK(is_rejoin_request(wire.data(), wire.size()));
  auto got = read_rejoin_request(wire.data(), wire.size(), c.join_pub);
  REQUIRE(got);
  CHECK(got->id == req.id);
  CHECK(got->pk == pk);
  // Another cluster's invitation, the boot key (which admitted PCs hold) or any changed byte: refused.
  CHECK_FALSE(read_rejoin_request(wire.data(), wire.size(), credentials_from_invitation(other).join_pub));
  auto forged = make_rejoin_request(boot_keys(c).sec, req);
  CHECK_FALSE(read_rejoin_request(forged.data(), forged.size(), c.join_pub));
  for (size_t i = 0; i < wire.size(); ++i) {
    auto t = wire;
    t[i] ^= 1;
    CHECK_FALSE(read_rejoin_request(t.data(), t.size(), c.join_pub));
  }
  ClusterSecret op = random_secret(), out{};
  uint32_t epoch = 0;
  auto rep = make_rejoin_reply(reply_sec, *got, 4, op);
  REQUIRE(rep.size() == kRejoinReplyBytes);
  CHECK(is_rejoin_reply(rep.data(), rep.size()));
  REQUIRE(open_rejoin_reply(rep.data(), rep.size(), reply_pub, pk, sk, epoch, out));
  CHECK(epoch == 4);
  CHECK(out == op);
  // Not for another asker's key pair; not from another cluster; not signed with the boot key (which
  // an admitted PC, even forgotten, holds); not altered.
  CHECK_FALSE(open_rejoin_reply(rep.data(), rep.size(), reply_pub, pk2, sk2, epoch, out));
  CHECK_FALSE(open_rejoin_reply(rep.data(), rep.size(), rejoin_reply_public(other), pk, sk, epoch, out));
  auto by_boot_key = make_rejoin_reply(boot_keys(c).sec, *got, 4, op);
  CHECK_FALSE(open_rejoin_reply(by_boot_key.data(), by_boot_key.size(), reply_pub, pk, sk, epoch, out));
  for (size_t i = 0; i < rep.size(); ++i) {
    auto t = rep;
    t[i] ^= 1;
    CHECK_FALSE(open_rejoin_reply(t.data(), t.size(), reply_pub, pk, sk, epoch, out));
  }
}

TEST_CASE("a network-booted PC's node id follows from its MAC as grappe-init derives it") {
  const std::string mac = "52:54:00:12:34:56";
  auto id = node_id_for_mac(mac);
  CHECK(to_hex(id.data(), id.size()) == grappe::init::derive_identity(mac).machine_id);
}
