// One bearer token shared by every call of a provider: fetched on first use, reused until
// shortly before it expires, dropped after a 401 so that the next call fetches a fresh one.
// Azure's Entra tokens and GCP's OAuth2 tokens derive from it (IBM's IAM tokens next); a
// subclass only says how to fetch a token and how to name its source in a log line. Thread-safe:
// concurrent callers wait for one fetch. Tokens are never logged.
#pragma once

#include <chrono>
#include <mutex>
#include <string>

#include "base/error.h"
#include "providers/cloud_api.h"

namespace pp::providers {

class BearerTokenCache {
 public:
  struct Token {
    std::string value;
    std::chrono::system_clock::time_point expiry;
  };

  virtual ~BearerTokenCache() = default;
  // A token with more than the refresh margin left: the cached one, else a new one.
  Result<std::string> token();
  // Drops the cached token (after a 401).
  void invalidate();
  // Where tokens come from ("service account x", "client secret"): for log lines.
  virtual std::string describe() const = 0;

 protected:
  // `logComponent` names the provider in the log; an empty clock is the system clock.
  BearerTokenCache(std::string logComponent, Clock clock,
                   std::chrono::seconds refreshMargin = std::chrono::minutes(5));
  // Gets a new token; `now` is the clock's time when the fetch started.
  virtual Result<Token> fetch(std::chrono::system_clock::time_point now) = 0;
  const Clock& clock() const { return clock_; }

 private:
  std::string logComponent_;
  Clock clock_;
  std::chrono::seconds refreshMargin_;
  std::mutex mu_;
  Token cached_;
};

// After a 401 (an expired or revoked token), once per call (`refreshed` remembers): drops the
// cached token and turns `e` into an immediate retry (status 0, no wait), so that the retrier
// sends the call again at once with a new token. True when it did. `E` is a provider's error
// type with `httpStatus` and `retryAfter`.
template <class E>
bool refreshAfter401(E& e, bool& refreshed, BearerTokenCache& tokens) {
  if (e.httpStatus != 401 || refreshed) return false;
  refreshed = true;
  tokens.invalidate();
  e.httpStatus = 0;
  e.retryAfter = std::chrono::milliseconds(0);
  return true;
}

}  // namespace pp::providers
