#include "base/random.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

namespace pp::rnd {
namespace {

TEST(RandomTest, UuidV4HasTheVersionAndVariantBits) {
  const std::regex form("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string u = uuidV4();
    ASSERT_TRUE(std::regex_match(u, form)) << u;
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(RandomTest, FillCoversEveryByte) {
  // Bytes that stay zero in all of 64 draws would mean fill() skipped them (p = 2^-512).
  unsigned char acc[64] = {};
  for (int round = 0; round < 64; ++round) {
    unsigned char b[64];
    fill(b, sizeof b);
    for (size_t i = 0; i < sizeof b; ++i) acc[i] |= b[i];
  }
  for (unsigned char a : acc) EXPECT_NE(a, 0);
  EXPECT_NE(u64(), u64());
}

}  // namespace
}  // namespace pp::rnd
