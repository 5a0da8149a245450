#include "ratelimit/local/local_rate_limiter.hpp"

#include <algorithm>
#include <vector>

namespace parley::ratelimit {

LocalRateLimiter::Entry& LocalRateLimiter::entry(std::string_view key, TimeMs now) {
  auto it = entries_.find(std::string(key));
  if (it == entries_.end()) {
    if (entries_.size() >= max_keys_) trim(now);
    it = entries_.emplace(std::string(key), Entry{}).first;
  }
  it->second.touched = now;
  return it->second;
}

void LocalRateLimiter::trim(TimeMs now) {
  std::erase_if(entries_, [now](const auto& e) {
    return e.second.window_end <= now && e.second.locked_until <= now;
  });
  if (entries_.size() < max_keys_ / 4 * 3) return;
  // Mostly live: forget the least recently used half, so the next trims are far apart.
  std::vector<TimeMs> touched;
  touched.reserve(entries_.size());
  for (const auto& [key, e] : entries_) touched.push_back(e.touched);
  auto middle = touched.begin() + static_cast<std::ptrdiff_t>(touched.size() / 2);
  std::nth_element(touched.begin(), middle, touched.end());
  const TimeMs cut = *middle;
  std::erase_if(entries_, [cut](const auto& e) { return e.second.touched <= cut; });
}

Result<Decision> LocalRateLimiter::take(std::string_view key, const Quota& q) {
  if (q.limit <= 0) return Decision{};
  const TimeMs now = clock_.now_ms();
  std::lock_guard lock(mutex_);
  Entry& e = entry(key, now);
  if (e.window_end <= now) {
    e.count = 0;
    e.window_end = now + q.window.count();
  }
  if (e.count >= q.limit) return Decision{false, milliseconds(e.window_end - now)};
  ++e.count;
  return Decision{};
}

Result<Decision> LocalRateLimiter::attempt(std::string_view key, const Backoff& b) {
  if (b.free_failures <= 0) return Decision{};
  const TimeMs now = clock_.now_ms();
  std::lock_guard lock(mutex_);
  Entry& e = entry(key, now);
  if (e.locked_until > now) return Decision{false, milliseconds(e.locked_until - now)};
  if (e.window_end <= now) e.count = 0;
  ++e.count;
  const auto lock_for = lock_after(b, e.count).count();
  if (lock_for > 0) e.locked_until = now + lock_for;
  // Remembered for the window after the lock ends: the next attempt then doubles the lock.
  e.window_end = now + lock_for + b.window.count();
  return Decision{};
}

Status LocalRateLimiter::refund(std::string_view key) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(std::string(key));
  if (it != entries_.end() && it->second.count > 0) --it->second.count;
  return ok_status();
}

Status LocalRateLimiter::clear(std::string_view key) {
  std::lock_guard lock(mutex_);
  entries_.erase(std::string(key));
  return ok_status();
}

std::size_t LocalRateLimiter::keys() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace parley::ratelimit
