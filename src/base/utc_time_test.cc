#include "base/utc_time.h"

#include <gtest/gtest.h>

namespace pp::utc {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

constexpr long kDec2 = 1796194805;  // 2026-12-02T07:00:05Z

TimePoint at(long unixSeconds) {
  return system_clock::from_time_t(unixSeconds);
}

TEST(UtcTime, FormatsRfc3339AndCompactForms) {
  EXPECT_EQ(format(at(kDec2)), "2026-12-02T07:00:05Z");
  EXPECT_EQ(format(at(kDec2), "%Y%m%dT%H%M%SZ"), "20261202T070005Z");
  EXPECT_EQ(format(at(0)), "1970-01-01T00:00:00Z");
  // Sub-second parts of the time point are dropped, not rounded.
  EXPECT_EQ(format(at(kDec2) + std::chrono::milliseconds(999)), "2026-12-02T07:00:05Z");
}

TEST(UtcTime, ParsesEveryRfc3339Form) {
  EXPECT_EQ(parseRfc3339("2026-12-02T07:00:05Z"), at(kDec2));
  EXPECT_EQ(parseRfc3339("2026-12-02t07:00:05z"), at(kDec2));
  EXPECT_EQ(parseRfc3339("2026-12-02T07:00:05.123456789Z"), at(kDec2));
  EXPECT_EQ(parseRfc3339("2026-12-02T08:00:05+01:00"), at(kDec2));
  EXPECT_EQ(parseRfc3339("2026-12-02T01:30:05-05:30"), at(kDec2));
  EXPECT_EQ(parseRfc3339("2026-12-02T08:00:05.5+01:00"), at(kDec2));
  EXPECT_EQ(parseRfc3339("2028-02-29T00:00:00Z"), at(1835395200));
  // A leap second is the next second.
  EXPECT_EQ(parseRfc3339("2026-12-02T07:00:60Z"), at(kDec2 + 55));
}

TEST(UtcTime, RoundTrips) {
  for (long t : {0L, 951782400L, kDec2, 4102444799L})
    EXPECT_EQ(parseRfc3339(format(at(t))), at(t)) << t;
}

TEST(UtcTime, RefusesMalformedTimes) {
  for (const char* bad : {"",
                          "2026-12-02",
                          "2026-12-02 07:00:05Z",
                          "2026-12-02T07:00:05",
                          "2026-13-02T07:00:05Z",
                          "2026-00-02T07:00:05Z",
                          "2026-12-32T07:00:05Z",
                          "2026-02-29T07:00:05Z",
                          "2026-04-31T07:00:05Z",
                          "2026-12-02T24:00:05Z",
                          "2026-12-02T07:60:05Z",
                          "2026-12-02T07:00:61Z",
                          "2026-12-02T07:00:05.Z",
                          "2026-12-02T07:00:05ZZ",
                          "2026-12-02T07:00:05+0100",
                          "2026-12-02T07:00:05+01:00x",
                          "2026-12-02T07:00:05+24:00",
                          "+026-12-02T07:00:05Z",
                          "2026-12-02T07:00:5Z",
                          "2026-1a-02T07:00:05Z",
                          "2026-12-02T07:00:05 Z"})
    EXPECT_FALSE(parseRfc3339(bad)) << bad;
}

// Well-formed but outside what a system_clock time point holds (years 1677-2262): converting
// them overflowed (UBSan: signed integer overflow in from_time_t; fuzz_alibaba_json's input was
// an STS Expiration in 4052).
TEST(UtcTime, RefusesTimesOutsideTheClocksRange) {
  for (const char* far : {"4052-12-02T13:00:00Z", "9999-12-31T23:59:59Z", "2263-01-01T00:00:00Z",
                          "0000-01-01T00:00:00Z", "1600-01-01T00:00:00+01:00"})
    EXPECT_FALSE(parseRfc3339(far)) << far;
  EXPECT_TRUE(parseRfc3339("2262-01-01T00:00:00Z"));
  EXPECT_TRUE(parseRfc3339("1700-01-01T00:00:00Z"));
}

TEST(UtcTime, FormRestrictsFractionAndOffset) {
  Rfc3339Form plain{.fraction = false, .offset = false};
  EXPECT_EQ(parseRfc3339("2026-12-02T07:00:05Z", plain), at(kDec2));
  EXPECT_FALSE(parseRfc3339("2026-12-02T07:00:05.1Z", plain));
  EXPECT_FALSE(parseRfc3339("2026-12-02T08:00:05+01:00", plain));
}

}  // namespace
}  // namespace pp::utc
