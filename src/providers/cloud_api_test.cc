#include "providers/cloud_api.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

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
  Retrier r({.maxAttempts = 5, .base = milliseconds{10}}, [&](milliseconds d) { sleeps.push_back(d); });
  int calls = 0;
  Result<int> out = r.run<int>(
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
  Retrier r({.maxAttempts = 5, .cap = milliseconds{3000}}, [&](milliseconds d) { sleeps.push_back(d); });
  int calls = 0;
  Result<int> out = r.run<int>(
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
  EXPECT_FALSE(r.run<int>(always, retry));
  EXPECT_EQ(calls, 4);

  calls = 0;
  Retrier tight({.maxAttempts = 100, .budget = milliseconds{5000}}, [](milliseconds) {});
  auto longWait = [](const Error&) { return RetryVerdict{true, milliseconds{2000}}; };
  EXPECT_FALSE(tight.run<int>(always, longWait));
  EXPECT_EQ(calls, 3);  // waits 2 s + 2 s, a third wait would pass the 5 s budget
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
