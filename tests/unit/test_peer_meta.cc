// Peer frame metas are read without throwing: wrong types, nulls and out-of-range values are
// refused with a reason that names the frame and the field; good metas read as written.
#include <doctest/doctest.h>

#include "migration/peer_meta.h"

using namespace grappe;
using nlohmann::json;

TEST_CASE("peer metas: resolved answers true, false, or nothing recorded; anything else is refused") {
  std::optional<bool> moved;
  std::string why;
  CHECK(parse_resolved(json{{"moved", true}}, moved, why));
  CHECK(moved == std::optional<bool>(true));
  CHECK(parse_resolved(json{{"moved", nullptr}}, moved, why));  // grapped threw type_error here before
  CHECK(!moved);
  CHECK(parse_resolved(json::object(), moved, why));
  CHECK(!moved);
  CHECK(!parse_resolved(json{{"moved", "yes"}}, moved, why));
  CHECK(why == "resolved: \"moved\" must be true or false");
  CHECK(!parse_resolved(json::array(), moved, why));
}

TEST_CASE("peer metas: an offer as offer_for writes it reads back; wrong types are named") {
  const json good = {{"id", "3.14"}, {"argv", {"sleep", "9"}}, {"user", "ann"}, {"uid", 1000}, {"home", "node3"},
                     {"home_number", 3}, {"epoch", 2}, {"stdio", {{"1", "pipe:[42]"}}}, {"rss_kb", 4096},
                     {"cpu_flags", {"fpu", "sse2"}}, {"age_s", 12.5}, {"stay", false}, {"tty_out", true},
                     {"tty_err", false}, {"precopy", true}, {"nice", nullptr}, {"from", "node1"}};
  Offer o;
  std::string why;
  REQUIRE(parse_offer(good, o, why));
  CHECK(o.id == "3.14");
  CHECK(o.argv == std::vector<std::string>{"sleep", "9"});
  CHECK(o.home_number == 3);
  CHECK(o.epoch == 2);
  CHECK(o.uid == 1000);
  CHECK(o.tty_out);
  CHECK(o.precopy);
  CHECK(o.age_s == 12.5);
  for (auto [key, value, field] : std::vector<std::tuple<const char*, json, std::string>>{
           {"id", 314, "\"id\""}, {"id", "../x", "\"id\""}, {"epoch", "2", "\"epoch\""}, {"epoch", -1, "\"epoch\""},
           {"home_number", 70000, "\"home_number\""}, {"argv", {1, 2}, "\"argv\""}, {"precopy", 1, "\"precopy\""},
           {"stdio", "pipe", "\"stdio\""}, {"nice", "low", "\"nice\""}, {"rss_kb", -5, "\"rss_kb\""}}) {
    json bad = good;
    bad[key] = value;
    CHECK_MESSAGE(!parse_offer(bad, o, why), key);
    CHECK(why.find("offer: " + field) == 0);
  }
}

TEST_CASE("peer metas: relay frames") {
  std::string why;
  int v = 0;
  CHECK((parse_out(json{{"fd", 2}}, v, why) && v == 2));
  CHECK(!parse_out(json{{"fd", 0}}, v, why));
  CHECK((parse_exit(json{{"status", 143}}, v, why) && v == 143));
  CHECK(!parse_exit(json{{"status", 256}}, v, why));
  CHECK((parse_signal(json{{"sig", 9}}, v, why) && v == 9));
  CHECK(!parse_signal(json{{"sig", "KILL"}}, v, why));
  MoveOrder m;
  CHECK(parse_move_order(json{{"to", "node2"}, {"client", 4}}, "by home", m, why));
  CHECK((m.to == "node2" && m.client == 4 && m.reason == "by home" && m.precopy == -1));
  CHECK(!parse_move_order(json{{"client", 4}}, "", m, why));
  CHECK(why == "migrate: \"to\" is missing");
  MovedNote mv;
  CHECK((parse_moved(json{{"to", "node4"}}, 3, mv, why) && mv.epoch == 3 && mv.to == "node4"));
  RelayHello h;
  CHECK(!parse_relay_hello(json{{"id", "1.2"}}, h, why));
  ImageFile f;
  CHECK(!parse_image_file(json{{"name", "core-1.img"}, {"size", -1}}, f, why));
  CHECK(!parse_image_file(json{{"name", nullptr}, {"size", 1}}, f, why));
}

TEST_CASE("peer metas: rekey, forgotten and abandon round-trip; every wrong field is refused naming it") {
  RekeyMeta r;
  r.next.epoch = 7;
  r.next.key.fill(0xab);
  r.grace = false;
  NodeId id{};
  id.fill(4);
  r.list = {5, {id}};
  RekeyMeta back;
  std::string why;
  REQUIRE_MESSAGE(parse_rekey(rekey_meta(r), back, why), why);
  CHECK(back.next.epoch == 7);
  CHECK(back.next.key == r.next.key);
  CHECK_FALSE(back.grace);
  CHECK(back.list.version == 5);
  REQUIRE(back.list.ids.size() == 1);
  CHECK(back.list.ids[0] == id);
  const nlohmann::json good = rekey_meta(r);
  for (const auto& [field, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"epoch", 0}, {"epoch", -1}, {"epoch", "7"}, {"epoch", 1e12}, {"key", "zz"}, {"key", 5},
           {"key", std::string(64, 'A')}, {"grace", "no"}, {"version", -1}, {"version", "2"},
           {"forgotten", "x"}, {"forgotten", {1}}, {"forgotten", {"not-an-id"}},
           {"forgotten", nlohmann::json(std::vector<std::string>(kMaxForgotten + 1, std::string(32, 'a')))}}) {
    nlohmann::json m = good;
    m[field] = value;
    INFO(field << " = " << value.dump().substr(0, 80));
    CHECK_FALSE(parse_rekey(m, back, why));
    CHECK(why.find(field) != std::string::npos);
  }
  CHECK_FALSE(parse_rekey(nlohmann::json::array(), back, why));
  ForgottenList l;
  CHECK(parse_forgotten(forgotten_meta(r.list), l, why));
  CHECK(l.ids == r.list.ids);
  uint32_t epoch = 0;
  std::string fpr;
  CHECK(parse_abandon({{"epoch", 3}, {"fingerprint", "0123456789abcdef"}}, epoch, fpr, why));
  CHECK(epoch == 3);
  CHECK_FALSE(parse_abandon({{"epoch", 3}, {"fingerprint", std::string(17, 'a')}}, epoch, fpr, why));
  CHECK_FALSE(parse_abandon({{"epoch", 0}, {"fingerprint", "x"}}, epoch, fpr, why));
  CHECK_FALSE(parse_abandon(nullptr, epoch, fpr, why));
  CHECK_FALSE(parse_abandon({{"fingerprint", "0123456789abcdef"}}, epoch, fpr, why));  // the fuzzer's find: no epoch
  nlohmann::json no_epoch = good;
  no_epoch.erase("epoch");
  CHECK_FALSE(parse_rekey(no_epoch, back, why));
}
