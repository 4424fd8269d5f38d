// Quantity parsing, sums, rounding and canonical text against apimachinery's behaviour.
#include "webhook/quantity.h"

#include <gtest/gtest.h>

namespace pp::webhook {
namespace {

Quantity q(std::string_view text) {
  auto r = Quantity::parse(text);
  EXPECT_TRUE(r) << text << ": " << (r ? "" : r.error().message);
  return r ? *r : Quantity();
}

TEST(QuantityTest, CanonicalText) {
  // Pairs of input and Quantity.String() as apimachinery prints them.
  const std::pair<const char*, const char*> cases[] = {
      {"0", "0"},
      {"1", "1"},
      {"500m", "500m"},
      {"0.5", "500m"},
      {"1.5", "1500m"},
      {"1500m", "1500m"},
      {"2000m", "2"},
      {"1000", "1k"},
      {"1500", "1500"},
      {"1k", "1k"},
      {"12e6", "12e6"},
      {"1e3", "1e3"},
      {"4Gi", "4Gi"},
      {"1024Mi", "1Gi"},
      {"1536Mi", "1536Mi"},
      {"1Ki", "1Ki"},
      {"512Ki", "512Ki"},
      {"0.5Ki", "512"},
      {"100n", "100n"},
      {"1.0000000001", "1000000001n"},
      {"0.0000000001", "1n"},
      {"+3", "3"},
      {"-2", "-2"},
      {"5M", "5M"},
      {"1E", "1E"},
      {".5", "500m"},
      {"5.", "5"},
      {"1e-3", "1e-3"},
      {"1000Ki", "1000Ki"},
      {"10u", "10u"},
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(q(in).toString(), want) << in;
}

TEST(QuantityTest, RejectsMalformed) {
  for (const char* text :
       {"", "abc", "1x", "1 Gi", "1Gix", "--1", "1..2", ".", "e3", "1e", "1e1.5", "1ki", "1e9999",
        "1Ei000", "99999999999999999999999999999999999999999"}) {
    auto r = Quantity::parse(text);
    EXPECT_FALSE(r) << text;
    if (!r) {
      EXPECT_NE(r.error().message.find("invalid"), std::string::npos) << r.error().message;
    }
  }
  EXPECT_FALSE(Quantity::parse(std::string(65, '1')));
  EXPECT_FALSE(Quantity::parse("1e40"));  // beyond the supported range
}

TEST(QuantityTest, RoundingAndComparison) {
  EXPECT_EQ(int128ToString(q("500m").ceilUnits()), "1");
  EXPECT_EQ(int128ToString(q("1.2").ceilUnits()), "2");
  EXPECT_EQ(int128ToString(q("2").ceilUnits()), "2");
  EXPECT_EQ(int128ToString(q("4Gi").ceilMiB()), "4096");
  EXPECT_EQ(int128ToString(q("1500M").ceilMiB()), "1431");
  EXPECT_EQ(int128ToString(q("1").ceilMiB()), "1");
  EXPECT_EQ(q("1").compare(q("1000m")), 0);
  EXPECT_LT(q("999m").compare(q("1")), 0);
  EXPECT_GT(q("1Ki").compare(q("1k")), 0);
}

TEST(QuantityTest, SumTakesFormatOfFirstNonZeroTerm) {
  Quantity sum(Quantity::Format::kDecimalSI);
  ASSERT_TRUE(sum.add(q("1Gi")));
  ASSERT_TRUE(sum.add(q("1Gi")));
  EXPECT_EQ(sum.toString(), "2Gi");
  Quantity gpus(Quantity::Format::kDecimalSI);
  ASSERT_TRUE(gpus.add(q("1")));
  ASSERT_TRUE(gpus.add(q("2")));
  EXPECT_EQ(gpus.toString(), "3");
  Quantity big = q("1e27");
  Quantity total;
  ASSERT_TRUE(total.add(big));
  EXPECT_FALSE(total.add(big));  // out of range, refused
}

}  // namespace
}  // namespace pp::webhook
