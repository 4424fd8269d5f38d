#include "sandbox_ids.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace pp::peerpodctl {
namespace {

namespace fs = std::filesystem;

class SandboxIdsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pp-peerpodctl-ids-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    for (const char* id : {"abcdef0123456789", "abcdef01ffff0000", "abc", "9876543210fedcba"}) {
      fs::create_directories(dir_ / id);
    }
    std::ofstream(dir_ / "not-a-sandbox-file") << "x";
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(SandboxIdsTest, UniquePrefixResolves) {
  EXPECT_EQ(resolveSandboxId(dir_, "9").value(), "9876543210fedcba");
  EXPECT_EQ(resolveSandboxId(dir_, "abcdef0123").value(), "abcdef0123456789");
  EXPECT_EQ(resolveSandboxId(dir_, "abcdef012345").value(), "abcdef0123456789");  // list's 12
  EXPECT_EQ(resolveSandboxId(dir_, "abcdef0123456789").value(), "abcdef0123456789");
}

TEST_F(SandboxIdsTest, FullIdWinsOverLongerIds) {
  EXPECT_EQ(resolveSandboxId(dir_, "abc").value(), "abc");
}

TEST_F(SandboxIdsTest, AmbiguousPrefixNamesTheCandidates) {
  auto r = resolveSandboxId(dir_, "abcdef01");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_EQ(r.error().message,
            "sandbox id prefix abcdef01 is ambiguous: it matches abcdef0123456789, "
            "abcdef01ffff0000");
}

TEST_F(SandboxIdsTest, NoMatch) {
  EXPECT_EQ(resolveSandboxId(dir_, "ffff").error().code, Code::kNotFound);
  EXPECT_EQ(resolveSandboxId(dir_, "not-a-sandbox-file").error().code, Code::kNotFound);
  EXPECT_EQ(resolveSandboxId(dir_, "").error().code, Code::kInvalidArgument);
  EXPECT_EQ(resolveSandboxId((dir_ / "missing").string(), "abc").error().code, Code::kNotFound);
}

}  // namespace
}  // namespace pp::peerpodctl
