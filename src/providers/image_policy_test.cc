#include "providers/image_policy.h"

#include <gtest/gtest.h>

namespace pp::providers {
namespace {

TEST(ImagePolicyTest, GlobMatch) {
  EXPECT_TRUE(globMatch("ami-0abc", "ami-0abc"));
  EXPECT_FALSE(globMatch("ami-0abc", "ami-0abcd"));
  EXPECT_FALSE(globMatch("ami-0abc", "ami-0ab"));
  EXPECT_TRUE(globMatch("ami-*", "ami-0abc"));
  EXPECT_TRUE(globMatch("ami-*", "ami-"));
  EXPECT_TRUE(globMatch("*", ""));
  EXPECT_TRUE(globMatch("quay.io/cc/podvm-*:v*", "quay.io/cc/podvm-ubuntu:v0.13"));
  EXPECT_FALSE(globMatch("quay.io/cc/podvm-*:v*", "quay.io/cc/podvm-ubuntu:latest"));
  EXPECT_TRUE(globMatch("*-base.qcow2", "podvm-base.qcow2"));
  EXPECT_FALSE(globMatch("*-base.qcow2", "podvm-base.qcow2.bak"));
  EXPECT_TRUE(globMatch("a*b*c", "aXXbYYbc"));
  // '?' and '[' are ordinary characters, not pattern syntax.
  EXPECT_FALSE(globMatch("ami-?", "ami-1"));
  EXPECT_TRUE(globMatch("ami-?", "ami-?"));
  // A prefix is not a match: registry.example/podvm must not allow registry.example/podvm-evil.
  EXPECT_FALSE(globMatch("registry.example/podvm", "registry.example/podvm-evil"));
}

TEST(ImagePolicyTest, PathologicalPatternsStayFast) {
  const std::string text(100000, 'a');
  const std::string pattern = "*a*a*a*a*a*a*a*a*a*b";
  EXPECT_FALSE(globMatch(pattern, text));
}

TEST(ImagePolicyTest, EmptyAllowsEverything) {
  auto p = ImagePolicy::parse({});
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->restricted());
  EXPECT_TRUE(p->allows("anything"));
  p = ImagePolicy::parse({"", ""});
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->restricted());
}

TEST(ImagePolicyTest, ListRestricts) {
  auto p = ImagePolicy::parse({"podvm-base.qcow2", "podvm-gpu-*"});
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->restricted());
  EXPECT_TRUE(p->allows("podvm-base.qcow2"));
  EXPECT_TRUE(p->allows("podvm-gpu-v2"));
  EXPECT_FALSE(p->allows("podvm-abc-12345678-root.qcow2"));
  EXPECT_FALSE(p->allows(""));
  EXPECT_FALSE(ImagePolicy::parse({"a\nb"}));
}

}  // namespace
}  // namespace pp::providers
