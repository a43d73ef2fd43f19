#include "dashboard/sessions.h"

#include <sodium.h>

#include <algorithm>
#include <vector>

namespace grappe {

DashboardSessions::DashboardSessions(Random random) : random_(std::move(random)) {}

std::string DashboardSessions::system_random(size_t bytes) {
  if (sodium_init() < 0) return "";
  std::vector<unsigned char> b(bytes);
  randombytes_buf(b.data(), b.size());
  std::string hex(bytes * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), b.data(), b.size());
  hex.pop_back();
  sodium_memzero(b.data(), b.size());
  return hex;
}

template <class M>
void DashboardSessions::bound(M& m) {
  while (m.size() > kMax)
    m.erase(std::min_element(m.begin(), m.end(), [](const auto& a, const auto& b) { return a.second.last < b.second.last; }));
}

void DashboardSessions::expire(double now) {
  for (auto it = tokens_.begin(); it != tokens_.end();) it = now - it->second.last > kTokenTtl ? tokens_.erase(it) : std::next(it);
  for (auto it = sessions_.begin(); it != sessions_.end();) it = now - it->second.last > kIdle ? sessions_.erase(it) : std::next(it);
}

std::string DashboardSessions::issue(uint32_t uid, double now) {
  expire(now);
  std::string token = random_(kBytes);
  if (token.size() < kBytes) return "";  // no randomness: no token
  tokens_[token] = {uid, "", now};
  bound(tokens_);
  return token;
}

std::optional<DashboardSessions::Session> DashboardSessions::redeem(const std::string& token, double now) {
  expire(now);
  auto it = tokens_.find(token);
  if (token.empty() || it == tokens_.end()) return std::nullopt;
  const uint32_t uid = it->second.uid;
  tokens_.erase(it);  // once
  Session s{random_(kBytes), random_(kBytes), uid};
  if (s.id.size() < kBytes || s.csrf.size() < kBytes || sessions_.count(s.id)) return std::nullopt;
  sessions_[s.id] = {uid, s.csrf, now};
  bound(sessions_);
  return s;
}

std::optional<uint32_t> DashboardSessions::check(const std::string& id, const std::string& csrf, double now) {
  expire(now);
  auto it = sessions_.find(id);
  if (id.empty() || it == sessions_.end()) return std::nullopt;
  const std::string& want = it->second.csrf;
  if (csrf.size() != want.size() || sodium_memcmp(csrf.data(), want.data(), want.size()) != 0) return std::nullopt;
  it->second.last = now;
  return it->second.uid;
}

void DashboardSessions::end(const std::string& id) { sessions_.erase(id); }

}  // namespace grappe
