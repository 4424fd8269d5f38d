// Shared by the cloud providers that call HTTP APIs (aws, azure, gcp, ...): retries with
// exponential backoff and full jitter (honouring a server's Retry-After), and a token bucket
// that keeps mutating calls under a rate (user-needs.md §4: upstream hits API rate limits).
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>

#include "base/error.h"

namespace pp::providers {

struct RetryPolicy {
  int maxAttempts = 6;                      // including the first call
  std::chrono::milliseconds base{250};      // first backoff ceiling
  std::chrono::milliseconds cap{20000};     // no single wait is longer
  std::chrono::milliseconds budget{120000}; // total time spent waiting, at most
};

// What the caller learned from one failed attempt.
struct RetryVerdict {
  bool retry = false;
  // Server-provided wait (Retry-After, x-ms-retry-after-ms); used instead of the backoff
  // when set, still capped by the policy's cap.
  std::optional<std::chrono::milliseconds> after;
};

// Full-jitter backoff for the given 1-based attempt: uniform in [0, min(cap, base * 2^(attempt-1))].
std::chrono::milliseconds backoffDelay(const RetryPolicy& policy, int attempt);

// Parses an HTTP Retry-After value: delta-seconds ("12") or an HTTP date. nullopt when invalid.
std::optional<std::chrono::milliseconds> parseRetryAfter(std::string_view value);

// Runs `attempt` until it succeeds, `classify` says the error is final, the attempts run out or
// the waiting budget is spent; returns the last result. `sleep` is replaceable for tests.
class Retrier {
 public:
  using Sleep = std::function<void(std::chrono::milliseconds)>;
  explicit Retrier(RetryPolicy policy = {}, Sleep sleep = {});

  template <typename T>
  Result<T> run(const std::function<Result<T>()>& attempt,
                const std::function<RetryVerdict(const Error&)>& classify) {
    std::chrono::milliseconds waited{0};
    for (int n = 1;; ++n) {
      Result<T> r = attempt();
      if (r || n >= policy_.maxAttempts) return r;
      RetryVerdict v = classify(r.error());
      if (!v.retry) return r;
      auto delay = v.after ? std::min(*v.after, policy_.cap) : backoffDelay(policy_, n);
      if (waited + delay > policy_.budget) return r;
      waited += delay;
      sleep_(delay);
    }
  }

  const RetryPolicy& policy() const { return policy_; }

 private:
  RetryPolicy policy_;
  Sleep sleep_;
};

// Token bucket: acquire() blocks until a token is available. rate <= 0 disables the limit.
// Thread-safe; waiters are served in arrival order of their reservations.
class TokenBucket {
 public:
  TokenBucket(double ratePerSecond, double burst);
  void acquire();
  // Reserves a token and returns how long the caller must wait before using it (0 if none).
  std::chrono::nanoseconds reserve();

 private:
  std::mutex mu_;
  double rate_;
  double burst_;
  double tokens_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace pp::providers
