#include "base/encoding.h"

#include <gtest/gtest.h>

namespace pp::encoding {
namespace {

TEST(EncodingTest, Base64KnownVectors) {
  // RFC 4648 §10.
  EXPECT_EQ(base64Encode(""), "");
  EXPECT_EQ(base64Encode("f"), "Zg==");
  EXPECT_EQ(base64Encode("fo"), "Zm8=");
  EXPECT_EQ(base64Encode("foo"), "Zm9v");
  EXPECT_EQ(base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64UrlEncode("\xfb\xff"), "-_8=");
  EXPECT_EQ(base64Encode("\xfb\xff"), "+/8=");
  EXPECT_EQ(*base64Decode("Zm9vYg=="), "foob");
  EXPECT_EQ(*base64Decode("Zm9vYmE="), "fooba");
  EXPECT_FALSE(base64Decode("Zm9"));
  EXPECT_FALSE(base64Decode("Zm=v"));
  EXPECT_FALSE(base64Decode("Zm9v\n"));
  EXPECT_FALSE(base64Decode("===="));
  EXPECT_EQ(hexEncode("\x01\xab"), "01ab");
}

}  // namespace
}  // namespace pp::encoding
