// Who may act from a browser on the dashboard (#27). Viewing is open to the cluster's network;
// actions need a session. `grappe dashboard` asks grapped over the local API (whose SO_PEERCRED
// names the user) for a one-time token, and prints a URL carrying it. The page trades it once for
// a session: an id (sent back as an HttpOnly, SameSite=Strict cookie) and a CSRF token the page
// returns in a request header with every action. An action needs both: another site's page can
// neither send the cookie nor read or guess the token. Tokens live 5 minutes unused, sessions 12
// hours idle, at most kMax at once (the least recently used goes first). Random bytes come
// through a seam, so tests are repeatable.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace grappe {

class DashboardSessions {
 public:
  using Random = std::function<std::string(size_t bytes)>;  // `bytes` random bytes, as hex
  static constexpr double kTokenTtl = 300, kIdle = 12 * 3600;
  static constexpr size_t kMax = 256, kBytes = 32;

  struct Session {
    std::string id, csrf;
    uint32_t uid = 0;
  };

  explicit DashboardSessions(Random random = system_random);
  // A one-time token for user `uid`.
  std::string issue(uint32_t uid, double now);
  // Trades a token (once, within kTokenTtl) for a session; nullopt for an unknown, used or
  // expired token.
  std::optional<Session> redeem(const std::string& token, double now);
  // The user of session `id` when `csrf` is its token (compared in constant time); refreshes the
  // session. nullopt otherwise.
  std::optional<uint32_t> check(const std::string& id, const std::string& csrf, double now);
  void end(const std::string& id);
  size_t sessions() const { return sessions_.size(); }

  static std::string system_random(size_t bytes);  // libsodium's randombytes

 private:
  struct Entry {
    uint32_t uid = 0;
    std::string csrf;
    double last = 0;
  };
  void expire(double now);
  template <class M> static void bound(M& m);
  Random random_;
  std::map<std::string, Entry> tokens_, sessions_;  // tokens_: csrf unused, last = issued
};

}  // namespace grappe
