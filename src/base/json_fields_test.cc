#include "base/json_fields.h"

#include <gtest/gtest.h>

namespace pp::jsonf {
namespace {

TEST(JsonFieldsTest, WrongTypesAndMissingMembersReadAsAbsent) {
  auto j = nlohmann::json::parse(R"({"a": "x", "n": 5, "o": {"p": {"q": "deep"}}, "z": null})");
  EXPECT_EQ(stringField(j, "a"), "x");
  EXPECT_EQ(stringField(j, "n"), "");
  EXPECT_EQ(stringField(j, "z"), "");
  EXPECT_EQ(stringField(j, "missing"), "");
  EXPECT_EQ(stringField(nlohmann::json::array({1}), "a"), "");
  EXPECT_EQ(stringAt(j, {"o", "p", "q"}), "deep");
  EXPECT_EQ(stringAt(j, {"o", "x", "q"}), "");
  EXPECT_EQ(stringAt(j, {"a", "p"}), "");
  ASSERT_NE(member(j, "z"), nullptr);
  EXPECT_TRUE(member(j, "z")->is_null());
  EXPECT_EQ(member(nlohmann::json("s"), "a"), nullptr);
}

}  // namespace
}  // namespace pp::jsonf
