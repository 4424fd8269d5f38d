// The provider kit's call pieces (docs/architecture.md, "The provider kit"), shared by the
// providers that call cloud APIs (aws, azure, gcp, ...): the clock, mayHaveBeenApplied() for a
// failed create's cleanup, retries with exponential backoff and full jitter (honouring a server's
// Retry-After), a token bucket that keeps mutating calls under a rate (upstream's users
// hit the clouds' API rate limits), and ApiCallPolicy, which puts the last two together for one API
// client.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

#include "base/error.h"

namespace pp::providers {

// The wall clock a provider signs requests and ages credentials with; tests pass a fixed one.
using Clock = std::function<std::chrono::system_clock::time_point()>;
// The real wall clock; what a default-constructed (empty) Clock stands for.
Clock systemClock();

// Whether a failed mutating call (a create, typically) may still have taken effect: the answer
// was lost (timeout, transport failure, 5xx), garbled, or the call was retried and the final
// attempt's error (throttling included) says nothing about the earlier ones. Every provider asks
// this one question after a failed create to decide whether to look for what it may have made
// and delete it; a definite refusal (bad argument, permission, not found, already exists) made
// nothing.
bool mayHaveBeenApplied(const Error& error);

struct RetryPolicy {
  int maxAttempts = 6;                       // including the first call
  std::chrono::milliseconds base{250};       // first backoff ceiling
  std::chrono::milliseconds cap{20000};      // no single wait is longer
  std::chrono::milliseconds budget{120000};  // total time spent waiting, at most
};

// What the caller learned from one failed attempt.
struct RetryVerdict {
  bool retry = false;
  // Server-provided wait (Retry-After, x-ms-retry-after-ms); used instead of the backoff
  // when set, still capped by the policy's cap.
  std::optional<std::chrono::milliseconds> after;
  // The cloud said "too many requests" (429, a Throttling code): counted apart in /metrics.
  // When unset, a retry that the server asked to wait for (`after` > 0) counts as throttled.
  bool throttled = false;
};

namespace detail {
// /metrics: peerpods_provider_api_retries_total and peerpods_provider_api_throttles_total.
void countRetry(bool throttled);
}  // namespace detail

// A failed attempt as a plain REST client sees it: the error and the wait the server asked for
// (Retry-After and friends). For Retrier::run when a client has no richer error type of its own.
struct AttemptError {
  Error error;
  std::optional<std::chrono::milliseconds> retryAfter;
};

// Full-jitter backoff for the given 1-based attempt:
// uniform in [0, min(cap, base * 2^(attempt-1))].
std::chrono::milliseconds backoffDelay(const RetryPolicy& policy, int attempt);

// Parses an HTTP Retry-After value: delta-seconds ("12") or an HTTP date. nullopt when invalid.
std::optional<std::chrono::milliseconds> parseRetryAfter(std::string_view value);

// Runs `attempt` until it succeeds, `classify` says the error is final, the attempts run out or
// the waiting budget is spent; returns the last result. `attempt` returns std::expected<T, E>
// and `classify` takes that E, so a client classifies its own error type (AwsError, GcpError,
// ...) directly, with nothing kept aside between the two calls. `sleep` is replaceable for tests.
class Retrier {
 public:
  using Sleep = std::function<void(std::chrono::milliseconds)>;
  explicit Retrier(RetryPolicy policy = {}, Sleep sleep = {});

  template <typename Attempt, typename Classify>
  std::invoke_result_t<Attempt&> run(Attempt&& attempt, Classify&& classify) {
    std::chrono::milliseconds waited{0};
    for (int n = 1;; ++n) {
      auto r = attempt();
      if (r || n >= policy_.maxAttempts) return r;
      RetryVerdict v = classify(std::as_const(r.error()));
      if (!v.retry) return r;
      auto delay = v.after ? std::min(*v.after, policy_.cap) : backoffDelay(policy_, n);
      if (waited + delay > policy_.budget) return r;
      waited += delay;
      detail::countRetry(v.throttled || (v.after && v.after->count() > 0));
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

// How a cloud API client calls: a mutating call first waits for a token of the client's bucket
// (before every attempt, retries included), and every call is retried as the Retrier decides.
// One per client; thread-safe.
class ApiCallPolicy {
 public:
  ApiCallPolicy(RetryPolicy retry, Retrier::Sleep sleep, double mutatingCallsPerSecond)
      : retrier_(retry, std::move(sleep)),
        bucket_(mutatingCallsPerSecond, std::max(1.0, mutatingCallsPerSecond)) {}

  template <typename Attempt, typename Classify>
  std::invoke_result_t<Attempt&> run(bool mutating, Attempt&& attempt, Classify&& classify) {
    return retrier_.run(
        [&] {
          if (mutating) bucket_.acquire();
          return attempt();
        },
        classify);
  }

 private:
  Retrier retrier_;
  TokenBucket bucket_;
};

}  // namespace pp::providers
