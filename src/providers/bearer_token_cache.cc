// The shared bearer-token cache (see bearer_token_cache.h).
#include "providers/bearer_token_cache.h"

#include "base/log.h"

namespace pp::providers {

BearerTokenCache::BearerTokenCache(std::string logComponent, Clock clock,
                                   std::chrono::seconds refreshMargin)
    : logComponent_(std::move(logComponent)),
      clock_(clock ? std::move(clock) : systemClock()),
      refreshMargin_(refreshMargin) {}

Result<std::string> BearerTokenCache::token() {
  std::lock_guard lock(mu_);
  auto now = clock_();
  if (!cached_.value.empty() && now + refreshMargin_ < cached_.expiry) return cached_.value;
  auto t = fetch(now);
  if (!t) return fail(t.error());
  cached_ = std::move(*t);
  log::debug(logComponent_, "new access token from {}, valid for {} s", describe(),
             std::chrono::duration_cast<std::chrono::seconds>(cached_.expiry - now).count());
  return cached_.value;
}

void BearerTokenCache::invalidate() {
  std::lock_guard lock(mu_);
  cached_ = {};
}

}  // namespace pp::providers
