#include <doctest/doctest.h>

#include <sodium.h>

#include <string>

#include "boot/boot_admit.h"
#include "boot/boot_policy.h"
#include "boot/credentials.h"

using namespace grappe;

TEST_CASE("admission reply: opens only for the PC it was made for, from this cluster, untampered") {
  REQUIRE(sodium_init() >= 0);
  ClusterSecret key{}, other{};
  randombytes_buf(key.data(), key.size());
  randombytes_buf(other.data(), other.size());
  const auto signer = boot_signing_keys(key), stranger = boot_signing_keys(other);
  BoxPublic pc{}, pc2{};
  BoxSecret pc_sec{}, pc2_sec{};
  crypto_box_keypair(pc.data(), pc_sec.data());
  crypto_box_keypair(pc2.data(), pc2_sec.data());
  const std::string mac = "52:54:00:00:00:01";
  Credentials member = credentials_from_invitation(key), other_member = credentials_from_invitation(other);
  member.invited = other_member.invited = false;
  member.invite = other_member.invite = ClusterSecret{};  // a member gives what it has, never the invitation
  member.epoch = 3;
  randombytes_buf(member.op.data(), member.op.size());
  const std::string r = make_admission(signer, member, pc, mac);
  CHECK(r.size() <= kMaxAdmitReply);
  CHECK(r.find(to_hex(key)) == std::string::npos);  // nothing travels in clear
  CHECK(r.find(to_hex(member.op)) == std::string::npos);
  Credentials got;
  std::string why;
  REQUIRE(open_admission(signer.pub, pc, pc_sec, mac, r, got, why));
  CHECK_FALSE(got.invited);
  CHECK(got.epoch == 3);
  CHECK(got.op == member.op);
  CHECK(got.boot_seed == member.boot_seed);
  CHECK(got.join_pub == member.join_pub);
  CHECK(boot_keys(got).pub == signer.pub);  // the admitted PC can sign as the cluster's boot service
  // Its key file's line round-trips, and holds no invitation.
  std::string err;
  auto line = parse_credentials(format_member(got), err);
  REQUIRE_MESSAGE(line, err);
  CHECK_FALSE(line->invited);
  CHECK(line->op == member.op);
  CHECK(line->epoch == 3);
  // Another cluster's signer, another PC's key pair, another MAC: refused, each with its reason.
  CHECK_FALSE(open_admission(stranger.pub, pc, pc_sec, mac, r, got, why));
  CHECK(why.find("not signed with this cluster's boot key") != std::string::npos);
  CHECK_FALSE(open_admission(signer.pub, pc2, pc2_sec, mac, r, got, why));
  CHECK(why.find("made for another PC") != std::string::npos);
  CHECK_FALSE(open_admission(signer.pub, pc, pc_sec, "52:54:00:00:00:02", r, got, why));
  // A reply signed by a stranger for this PC (an impostor serving network boot) is refused.
  CHECK_FALSE(open_admission(signer.pub, pc, pc_sec, mac, make_admission(stranger, other_member, pc, mac), got, why));
  // A correctly signed reply whose sealed key was made for someone else cannot be opened: only the
  // signature over the PC's own key lets it through, and then the box must open.
  CHECK_FALSE(open_admission(signer.pub, pc2, pc_sec, mac, make_admission(signer, member, pc2, mac), got, why));
  // Every single-byte change is refused.
  for (size_t i = 0; i < r.size(); ++i) {
    std::string t = r;
    t[i] = static_cast<char>(t[i] ^ 0x01);
    CHECK_FALSE(open_admission(signer.pub, pc, pc_sec, mac, t, got, why));
  }
  CHECK_FALSE(open_admission(signer.pub, pc, pc_sec, mac, r + "x", got, why));
  CHECK_FALSE(open_admission(signer.pub, pc, pc_sec, mac, std::string(2000, 'a'), got, why));
  CHECK(why.find("over 1024 bytes") != std::string::npos);
  std::string junk(400, '\0');
  for (int n = 0; n < 500; ++n) {
    randombytes_buf(junk.data(), junk.size());
    CHECK_FALSE(open_admission(signer.pub, pc, pc_sec, mac, junk, got, why));
  }
}

TEST_CASE("MACs are canonical: lower case, ':' separated; anything else is not a MAC") {
  CHECK(canonical_mac("52-54-00-AB-cd-01") == "52:54:00:ab:cd:01");
  CHECK(canonical_mac("52:54:00:ab:cd:01") == "52:54:00:ab:cd:01");
  CHECK(canonical_mac("52:54:00:ab:cd") == "");
  CHECK(canonical_mac("52:54:00:ab:cd:0g") == "");
  CHECK(canonical_mac("52:54:00:ab:cd:01:") == "");
  CHECK(canonical_mac("5254.00ab.cd01.") == "");
}

TEST_CASE("admission policy: auto lets every PC in; listed only those a joining rule names; ask waits for root") {
  AdmitPolicy p{};
  CHECK(parse_admit_policy("auto", p));
  CHECK(p == AdmitPolicy::Auto);
  CHECK(parse_admit_policy("listed", p));
  CHECK(p == AdmitPolicy::Listed);
  CHECK(parse_admit_policy("ask", p));
  CHECK(p == AdmitPolicy::Ask);
  CHECK_FALSE(parse_admit_policy("Auto", p));
  CHECK_FALSE(parse_admit_policy("", p));
  const auto rules = parse_boot_nodes(
      "[[node]]\nmac = \"52:54:00:00:00:*\"\n[[node]]\nmac = \"52:54:00:00:01:01\"\njoin = false\n", "boot-nodes.toml");
  CHECK(decide_admission(AdmitPolicy::Auto, {}, "", "aa:bb:cc:dd:ee:ff").admit);
  CHECK(decide_admission(AdmitPolicy::Listed, rules, "", "52:54:00:00:00:07").admit);
  auto no = decide_admission(AdmitPolicy::Listed, rules, "", "52:54:00:00:02:07");
  CHECK_FALSE(no.admit);
  CHECK(no.why.find("no rule of boot-nodes.toml matches 52:54:00:00:02:07") != std::string::npos);
  auto nojoin = decide_admission(AdmitPolicy::Listed, rules, "", "52:54:00:00:01:01");
  CHECK_FALSE(nojoin.admit);
  CHECK(nojoin.why.find("join = false") != std::string::npos);
  auto broken = decide_admission(AdmitPolicy::Listed, rules, "line 1: bad", "52:54:00:00:00:07");
  CHECK_FALSE(broken.admit);
  CHECK(broken.why.find("cannot be read: line 1: bad") != std::string::npos);
  auto wait = decide_admission(AdmitPolicy::Ask, {}, "", "52:54:00:00:00:07");
  CHECK(wait.pending);
  CHECK_FALSE(wait.admit);
  const bool yes = true, nope = false;
  CHECK(decide_admission(AdmitPolicy::Ask, {}, "", "52:54:00:00:00:07", &yes).admit);
  auto denied = decide_admission(AdmitPolicy::Ask, {}, "", "52:54:00:00:00:07", &nope);
  CHECK_FALSE(denied.admit);
  CHECK_FALSE(denied.pending);
  CHECK(denied.why.find("denied by root") != std::string::npos);
}
