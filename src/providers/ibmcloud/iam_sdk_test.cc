// The fake IAM's protocol, checked with IBM's own Node SDK core (ibm-cloud-sdk-core, installed by
// scripts/install-deps in tests/peers/npm): its IamAuthenticator and ContainerAuthenticator
// must get tokens from FakeIam, with the IAM URL given as upstream's flag default spells it
// (".../identity/token") and as the SDK's base URL.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "providers/ibmcloud/iam.h"
#include "providers/ibmcloud/testing/fake_iam.h"

namespace pp::providers::ibmcloud {
namespace {

using testing::FakeIam;

std::string shellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs the SDK client; its JSON line.
nlohmann::json runSdk(const std::string& url, const std::string& apiKey, const std::string& crFile,
                      const std::string& profile) {
  std::string cmd = "NODE_PATH=" + shellQuote(PP_NPM_NODE_MODULES) + " node " +
                    shellQuote(PP_IAM_SDK_CLIENT) + " " + shellQuote(url) + " " +
                    shellQuote(apiKey) + " " + shellQuote(crFile) + " " + shellQuote(profile) +
                    " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return {{"error", "popen failed"}};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = ::pclose(p);
  auto nl = out.rfind('\n', out.size() >= 2 ? out.size() - 2 : 0);
  std::string last = nl == std::string::npos ? out : out.substr(nl + 1);
  auto j = nlohmann::json::parse(last, nullptr, false);
  if (!j.is_object()) return {{"error", "exit " + std::to_string(rc) + ": " + out}};
  return j;
}

class IamSdkTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(
        std::filesystem::is_directory(std::string(PP_NPM_NODE_MODULES) + "/ibm-cloud-sdk-core"))
        << "IBM's Node SDK is not installed in " << PP_NPM_NODE_MODULES
        << ": run scripts/install-deps";
    dir_ =
        std::filesystem::temp_directory_path() / ("ibm-iam-sdk-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_P(IamSdkTest, IbmNodeSdkAuthenticatorsGetTokensFromTheFake) {
  FakeIam iam;
  iam.addTrustedProfile("Profile-9f1c", "projected-sa-token");
  std::string cr = (dir_ / "vault-token").string();
  std::ofstream(cr) << "projected-sa-token";
  // The flag's form (upstream's default ends in /identity/token) or the SDK's base URL.
  bool fullUrl = GetParam();
  std::string url = fullUrl ? iam.tokenUrl() : iam.baseUrl();
  auto out = runSdk(url, FakeIam::kDefaultApiKey, cr, "Profile-9f1c");
  ASSERT_FALSE(out.contains("error")) << out.dump();
  ASSERT_TRUE(out["apikey"].is_string() && out["container"].is_string()) << out.dump();
  EXPECT_TRUE(iam.valid(out["apikey"].get<std::string>())) << out.dump();
  EXPECT_TRUE(iam.valid(out["container"].get<std::string>())) << out.dump();

  auto calls = iam.calls();
  ASSERT_EQ(calls.size(), 2u);
  for (const auto& c : calls) {
    EXPECT_EQ(c.path, kIamTokenPath);
    EXPECT_EQ(c.status, 200);
  }
  EXPECT_EQ(calls[0].form.at("grant_type"), kApiKeyGrant);
  EXPECT_EQ(calls[1].form.at("grant_type"), kCrTokenGrant);
  EXPECT_EQ(calls[1].form.at("cr_token"), "projected-sa-token");
  EXPECT_EQ(calls[1].form.at("profile_id"), "Profile-9f1c");
  EXPECT_TRUE(iam.problems().empty()) << iam.problems()[0];
  // Our client posts to the same URL the SDK did, from either form.
  EXPECT_EQ(iamTokenEndpoint(url), iam.tokenUrl());
}

TEST_P(IamSdkTest, SdkSeesIamErrorsFromTheFake) {
  FakeIam iam;
  std::string cr = (dir_ / "vault-token").string();
  std::ofstream(cr) << "unknown-token";
  auto out = runSdk(GetParam() ? iam.tokenUrl() : iam.baseUrl(), "wrong-key", cr, "Profile-x");
  ASSERT_TRUE(out.contains("error")) << out.dump();
  EXPECT_NE(out["error"].get<std::string>().find("Provided API key could not be found"),
            std::string::npos)
      << out.dump();
}

INSTANTIATE_TEST_SUITE_P(Url, IamSdkTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "TokenUrl" : "BaseUrl"; });

}  // namespace
}  // namespace pp::providers::ibmcloud
