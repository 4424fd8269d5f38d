#include "base/strings.h"

#include <gtest/gtest.h>

namespace pp::strings {
namespace {

TEST(StringsTest, LowerAndCaseInsensitiveCompareAreAsciiOnly) {
  EXPECT_EQ(toLower("Content-TYPE 9"), "content-type 9");
  EXPECT_EQ(toLower("\xC3\x84"), "\xC3\x84");  // UTF-8 bytes are left alone
  EXPECT_TRUE(equalsIgnoreCase("X-Amz-Date", "x-amz-date"));
  EXPECT_FALSE(equalsIgnoreCase("x-amz-date", "x-amz-dat"));
  EXPECT_FALSE(equalsIgnoreCase("[", "{"));  // 0x5b and 0x7b differ by 32 but are not letters
  EXPECT_TRUE(startsWithIgnoreCase("/SUBSCRIPTIONS/abc", "/subscriptions/"));
  EXPECT_FALSE(startsWithIgnoreCase("/sub", "/subscriptions/"));
}

TEST(StringsTest, TrimTakesAsciiWhiteSpaceFromTheEnds) {
  EXPECT_EQ(trim(" \t\r\n value with space \v\f\n"), "value with space");
  EXPECT_EQ(trim("   "), "");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trimRight("  token\r\n"), "  token");
  static_assert(trim(" a ") == "a");
}

TEST(StringsTest, XmlEscapeCoversTheFiveEntities) {
  EXPECT_EQ(xmlEscape("a<b>&\"c'd"), "a&lt;b&gt;&amp;&quot;c&apos;d");
  EXPECT_EQ(xmlEscape("plain ünïcode"), "plain ünïcode");
}

}  // namespace
}  // namespace pp::strings
