#include "providers/cloud_api.h"

#include <gtest/gtest.h>

#include <expected>
#include <set>
#include <vector>

#include "base/metrics.h"
#include "providers/bearer_token_cache.h"

namespace pp::providers {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, StaysWithinTheExponentialCeilingAndTheCap) {
  RetryPolicy p{.maxAttempts = 10, .base = milliseconds{100}, .cap = milliseconds{1000}};
  for (int attempt = 1; attempt <= 8; ++attempt) {
    long long ceiling = std::min<long long>(1000, 100LL << (attempt - 1));
    for (int i = 0; i < 200; ++i) {
      auto d = backoffDelay(p, attempt).count();
      EXPECT_GE(d, 0);
      EXPECT_LE(d, ceiling) << "attempt " << attempt;
    }
  }
}

TEST(Backoff, IsJittered) {
  RetryPolicy p{.base = milliseconds{1000}, .cap = milliseconds{100000}};
  std::set<long long> seen;
  for (int i = 0; i < 50; ++i) seen.insert(backoffDelay(p, 4).count());
  EXPECT_GT(seen.size(), 10u);
}

TEST(RetryAfter, SecondsDatesAndGarbage) {
  EXPECT_EQ(parseRetryAfter("7"), milliseconds{7000});
  EXPECT_EQ(parseRetryAfter(" 0 "), milliseconds{0});
  EXPECT_EQ(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT"), milliseconds{0});  // in the past
  auto future = parseRetryAfter("Fri, 01 Jan 2100 00:00:00 GMT");
  ASSERT_TRUE(future);
  EXPECT_GT(future->count(), 0);
  EXPECT_EQ(parseRetryAfter(""), std::nullopt);
  EXPECT_EQ(parseRetryAfter("-3"), std::nullopt);
  EXPECT_EQ(parseRetryAfter("soon"), std::nullopt);
  EXPECT_EQ(parseRetryAfter("99999999999999999999"), std::nullopt);
}

TEST(Retrier, RetriesRetryableErrorsThenSucceeds) {
  std::vector<milliseconds> sleeps;
  Retrier r({.maxAttempts = 5, .base = milliseconds{10}},
            [&](milliseconds d) { sleeps.push_back(d); });
  int calls = 0;
  Result<int> out = r.run(
      [&]() -> Result<int> {
        if (++calls < 3) return fail(Code::kUnavailable, "throttled");
        return 42;
      },
      [](const Error& e) { return RetryVerdict{.retry = e.code == Code::kUnavailable}; });
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, 42);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(sleeps.size(), 2u);
}

TEST(Retrier, StopsOnFinalErrorsAndHonoursRetryAfter) {
  std::vector<milliseconds> sleeps;
  Retrier r({.maxAttempts = 5, .cap = milliseconds{3000}},
            [&](milliseconds d) { sleeps.push_back(d); });
  int calls = 0;
  Result<int> out = r.run(
      [&]() -> Result<int> {
        ++calls;
        if (calls == 1) return fail(Code::kResourceExhausted, "429");
        return fail(Code::kInvalidArgument, "bad image");
      },
      [](const Error& e) {
        if (e.code == Code::kResourceExhausted) return RetryVerdict{true, milliseconds{9000}};
        return RetryVerdict{};
      });
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().message, "bad image");
  EXPECT_EQ(calls, 2);
  ASSERT_EQ(sleeps.size(), 1u);
  EXPECT_EQ(sleeps[0], milliseconds{3000});  // Retry-After capped
}

TEST(Retrier, GivesUpAfterMaxAttemptsOrBudget) {
  int calls = 0;
  Retrier r({.maxAttempts = 4, .base = milliseconds{1}}, [](milliseconds) {});
  auto always = [&]() -> Result<int> {
    ++calls;
    return fail(Code::kUnavailable, "503");
  };
  auto retry = [](const Error&) { return RetryVerdict{true}; };
  EXPECT_FALSE(r.run(always, retry));
  EXPECT_EQ(calls, 4);

  calls = 0;
  Retrier tight({.maxAttempts = 100, .budget = milliseconds{5000}}, [](milliseconds) {});
  auto longWait = [](const Error&) { return RetryVerdict{true, milliseconds{2000}}; };
  EXPECT_FALSE(tight.run(always, longWait));
  EXPECT_EQ(calls, 3);  // waits 2 s + 2 s, a third wait would pass the 5 s budget
}

// The classifier sees the attempt's own error type, with its fields: no side channel.
TEST(Retrier, ClassifiesTheAttemptsOwnErrorType) {
  struct ApiError {
    int status = 0;
    std::optional<milliseconds> retryAfter;
  };
  std::vector<milliseconds> sleeps;
  Retrier r({.maxAttempts = 5}, [&](milliseconds d) { sleeps.push_back(d); });
  int calls = 0;
  auto out = r.run(
      [&]() -> std::expected<int, ApiError> {
        if (++calls == 1) return std::unexpected(ApiError{429, milliseconds{7}});
        if (calls == 2) return std::unexpected(ApiError{400, {}});
        return 1;
      },
      [](const ApiError& e) {
        return RetryVerdict{e.status == 429, e.retryAfter};
      });
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().status, 400);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(sleeps, std::vector<milliseconds>{milliseconds{7}});
}

TEST(Retrier, CountsRetriesAndThrottlesForMetrics) {
  auto count = [](const char* name) { return metrics::global().counter(name, "").with().value(); };
  double retries = count("peerpods_provider_api_retries_total");
  double throttles = count("peerpods_provider_api_throttles_total");
  Retrier r({.maxAttempts = 4, .base = milliseconds{1}}, [](milliseconds) {});
  int n = 0;
  auto result = r.run(
      [&]() -> std::expected<int, int> {
        if (++n < 4) return std::unexpected(n);
        return 7;
      },
      [](int attempt) {
        // 1: a 5xx (no wait asked), 2: a 429, 3: a server-asked wait.
        if (attempt == 1) return RetryVerdict{true};
        if (attempt == 2) return RetryVerdict{true, std::nullopt, true};
        return RetryVerdict{true, milliseconds{5}};
      });
  ASSERT_TRUE(result);
  EXPECT_EQ(count("peerpods_provider_api_retries_total") - retries, 3);
  EXPECT_EQ(count("peerpods_provider_api_throttles_total") - throttles, 2);
}

TEST(MayHaveBeenApplied, LostOrThrottledAnswersYesDefiniteRefusalsNo) {
  for (Code c : {Code::kUnavailable, Code::kDeadlineExceeded, Code::kInternal, Code::kUnknown,
                 Code::kResourceExhausted})
    EXPECT_TRUE(mayHaveBeenApplied(Error(c, "x"))) << codeName(c);
  for (Code c : {Code::kInvalidArgument, Code::kPermissionDenied, Code::kUnauthenticated,
                 Code::kNotFound, Code::kAlreadyExists, Code::kFailedPrecondition})
    EXPECT_FALSE(mayHaveBeenApplied(Error(c, "x"))) << codeName(c);
}

class CountingTokens final : public BearerTokenCache {
 public:
  explicit CountingTokens(Clock clock) : BearerTokenCache("test", std::move(clock)) {}
  std::string describe() const override { return "counter"; }
  int fetches = 0;

 protected:
  Result<Token> fetch(std::chrono::system_clock::time_point now) override {
    ++fetches;
    return Token{"t" + std::to_string(fetches), now + std::chrono::minutes(60)};
  }
};

TEST(BearerTokenCache, ReusesUntilTheMarginThenRefreshesAndForgetsOnInvalidate) {
  auto now = std::chrono::system_clock::time_point{} + std::chrono::hours(1000);
  CountingTokens tokens([&] { return now; });
  EXPECT_EQ(*tokens.token(), "t1");
  now += std::chrono::minutes(54);
  EXPECT_EQ(*tokens.token(), "t1");  // 6 minutes left
  now += std::chrono::minutes(2);
  EXPECT_EQ(*tokens.token(), "t2");  // 4 minutes left: refreshed
  tokens.invalidate();
  EXPECT_EQ(*tokens.token(), "t3");
  EXPECT_EQ(tokens.fetches, 3);
}

TEST(TokenBucket, BurstThenRate) {
  TokenBucket b(10.0, 2.0);  // 10 per second, burst 2
  EXPECT_EQ(b.reserve().count(), 0);
  EXPECT_EQ(b.reserve().count(), 0);
  auto third = b.reserve();
  EXPECT_GT(third.count(), 50'000'000);  // about 100 ms
  EXPECT_LE(third.count(), 100'000'000);
  auto fourth = b.reserve();
  EXPECT_GT(fourth.count(), third.count());  // queued behind the third
}

TEST(TokenBucket, ZeroRateIsUnlimited) {
  TokenBucket b(0, 1);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(b.reserve().count(), 0);
}

}  // namespace
}  // namespace pp::providers
