#include "base/error.h"

#include <gtest/gtest.h>

namespace pp {
namespace {

Result<int> half(int v) {
  if (v % 2 != 0) return fail(Code::kInvalidArgument, "odd value " + std::to_string(v));
  return v / 2;
}

TEST(ErrorTest, ResultCarriesValueOrError) {
  EXPECT_EQ(*half(4), 2);
  auto r = half(3);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_EQ(r.error().toString(), "INVALID_ARGUMENT: odd value 3");
}

TEST(ErrorTest, WrapKeepsCodeAndPrefixesContext) {
  Error e{Code::kNotFound, "no such sandbox"};
  EXPECT_EQ(e.wrap("StopVM").toString(), "NOT_FOUND: StopVM: no such sandbox");
  EXPECT_EQ(codeName(Code::kUnauthenticated), "UNAUTHENTICATED");
}

}  // namespace
}  // namespace pp
