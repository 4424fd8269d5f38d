#include "providers/cloud_api.h"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <random>
#include <string>
#include <thread>

#include "base/metrics.h"

namespace pp::providers {

Clock systemClock() {
  return [] { return std::chrono::system_clock::now(); };
}

bool mayHaveBeenApplied(const Error& error) {
  switch (error.code) {
    case Code::kUnavailable:
    case Code::kDeadlineExceeded:
    case Code::kInternal:
    case Code::kUnknown:
    case Code::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

std::chrono::milliseconds backoffDelay(const RetryPolicy& policy, int attempt) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  int shift = std::clamp(attempt - 1, 0, 30);
  long long ceiling = policy.base.count();
  for (int i = 0; i < shift && ceiling < policy.cap.count(); ++i) ceiling *= 2;
  ceiling = std::min<long long>(ceiling, policy.cap.count());
  if (ceiling <= 0) return std::chrono::milliseconds{0};
  std::uniform_int_distribution<long long> dist(0, ceiling);
  return std::chrono::milliseconds{dist(rng)};
}

std::optional<std::chrono::milliseconds> parseRetryAfter(std::string_view value) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    long long seconds = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || seconds > 86400) return std::nullopt;
    return std::chrono::milliseconds{seconds * 1000};
  }
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
  std::tm tm{};
  std::string text(value);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  time_t when = timegm(&tm);
  time_t now = std::time(nullptr);
  return std::chrono::milliseconds{std::max<long long>(0, (long long)(when - now)) * 1000};
}

Retrier::Retrier(RetryPolicy policy, Sleep sleep) : policy_(policy), sleep_(std::move(sleep)) {
  if (!sleep_) sleep_ = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
}

TokenBucket::TokenBucket(double ratePerSecond, double burst)
    : rate_(ratePerSecond),
      burst_(std::max(1.0, burst)),
      tokens_(std::max(1.0, burst)),
      last_(std::chrono::steady_clock::now()) {}

std::chrono::nanoseconds TokenBucket::reserve() {
  if (rate_ <= 0) return std::chrono::nanoseconds{0};
  std::lock_guard lock(mu_);
  auto now = std::chrono::steady_clock::now();
  double elapsed = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
  tokens_ -= 1.0;  // may go negative: a debt later callers wait behind
  if (tokens_ >= 0) return std::chrono::nanoseconds{0};
  return std::chrono::nanoseconds{(long long)(-tokens_ / rate_ * 1e9)};
}

void TokenBucket::acquire() {
  auto wait = reserve();
  if (wait.count() > 0) std::this_thread::sleep_for(wait);
}

namespace detail {

void countRetry(bool throttled) {
  static auto& retries =
      metrics::global().counter("peerpods_provider_api_retries_total",
                                "Cloud API calls retried by the provider kit (any reason).");
  static auto& throttles = metrics::global().counter(
      "peerpods_provider_api_throttles_total",
      "Cloud API retries because the cloud throttled the call (429, Throttling codes, or a "
      "Retry-After wait).");
  retries.with().inc();
  if (throttled) throttles.with().inc();
}

}  // namespace detail

}  // namespace pp::providers
