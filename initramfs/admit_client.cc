#include "admit_client.h"

#include <sodium.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "boot/boot_admit.h"
#include "boot/boot_keys.h"
#include "fetch.h"

namespace grappe::init {

bool ask_admission(const std::string& base, const std::string& mac, const std::array<uint8_t, 32>& boot_pub,
                   const std::array<uint8_t, 32>& pub, const std::array<uint8_t, 32>& sec,
                   const std::string& scratch_file, std::string& member_line, std::string& why) {
  const std::string want_mac = canonical_mac(mac);
  if (want_mac.empty()) return why = "no MAC address to ask with (" + mac + ")", false;
  std::string err;
  const std::string url = base + "admit?mac=" + want_mac + "&pk=" + to_hex(pub);
  const bool got = !fetch_to_file(url, scratch_file, err, [](size_t, size_t) {}, kMaxAdmitReply).empty();
  std::string reply;
  if (got) {
    std::ifstream in(scratch_file, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    reply = ss.str();
  }
  std::error_code ec;
  std::filesystem::remove(scratch_file, ec);
  Credentials member;
  bool ok = got && open_admission(boot_pub, pub, sec, want_mac, reply, member, why);
  if (!got) why = err;
  if (ok) member_line = format_member(member);
  sodium_memzero(&member, sizeof member);
  return ok;
}

}  // namespace grappe::init
