// Alibaba's own Node SDK judges our ACS3 signature and the fake ECS endpoint
// (testing/sdk_judge.js, run with NODE_PATH=tests/peers/npm/node_modules):
// - for the same request (fixed time, nonce, body), @alicloud/openapi-core's getAuthorization
//   and our acs3Sign produce the same Authorization header, byte for byte;
// - @alicloud/ecs20140526's client, pointed at the fake over http, makes real RunInstances,
//   DescribeInstances and DeleteInstance calls which the fake accepts (so the fake verifies
//   the signature as the service does and takes what the real SDK sends), and reads the fake's
//   error bodies as Alibaba's (InvalidInstanceId.NotFound, Throttling.User).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "providers/alibabacloud/acs3.h"
#include "providers/alibabacloud/testing/harness.h"
#include "providers/testing/requests.h"

namespace pp::providers::alibabacloud {
namespace {

using json = nlohmann::json;

// Runs the judge; "" and a test failure when node or the SDK is missing.
std::string runJudge(const std::string& args) {
  if (!std::filesystem::exists(std::string(PP_NODE_MODULES) + "/@alicloud/ecs20140526")) {
    ADD_FAILURE() << "Alibaba's Node SDK is not installed in " << PP_NODE_MODULES
                  << ": run scripts/install-deps";
    return "";
  }
  std::string cmd = "NODE_PATH='" + std::string(PP_NODE_MODULES) + "' node '" +
                    PP_ALIBABA_SDK_JUDGE + "' " + args + " 2>&1";
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int rc = ::pclose(p);
    EXPECT_EQ(rc, 0) << "node failed (is nodejs installed? run scripts/install-deps): " << out;
    if (rc != 0) return "";
  } else {
    ADD_FAILURE() << "cannot run node";
  }
  return out;
}

json sdkSign(const Acs3Request& r, const AcsCredentials& c) {
  json headers = json::object();
  for (const auto& [k, v] : r.headers)
    if (k != "Authorization" && k != "x-acs-content-sha256") headers[k] = v;
  json req = {{"method", r.method},
              {"pathname", r.path},
              {"query", r.query},
              {"headers", headers},
              {"body", r.body},
              {"accessKeyId", c.accessKeyId},
              {"accessKeySecret", c.accessKeySecret}};
  auto file =
      std::filesystem::temp_directory_path() / ("pp-acs3-" + std::to_string(::getpid()) + ".json");
  std::ofstream(file) << req.dump();
  std::string out = runJudge("sign '" + file.string() + "'");
  std::filesystem::remove(file);
  json j = json::parse(out, nullptr, false);
  EXPECT_TRUE(j.is_object()) << out;
  return j;
}

Acs3Request sampleRequest() {
  Acs3Request r;
  r.method = "POST";
  r.path = "/";
  r.query = {{"RegionId", "cn-beijing"},
             {"ImageId", "m-2zepodvmimage0001"},
             {"SecurityGroupIds.1", "sg-1"},
             {"SecurityGroupIds.2", "sg-2"},
             {"Tag.1.Key", "io.peerpods.sandbox-id"},
             {"Tag.1.Value", "0123456789abcdef"},
             {"Tag.2.Key", "team name"},
             {"Tag.2.Value", "a b*c~d'e(f)g!h+i/j=k&l;m,n\xe4\xb8\xad"},
             {"UserData", "I2Nsb3VkLWNvbmZpZwo="},
             {"InstanceIds", "[\"i-1\",\"i-2\"]"},
             {"Empty", ""}};
  r.headers = {{"host", "ecs.cn-beijing.aliyuncs.com"},
               {"x-acs-action", "RunInstances"},
               {"x-acs-version", "2014-05-26"},
               {"accept", "application/json"}};
  return r;
}

const auto kFixedTime = std::chrono::system_clock::time_point(std::chrono::seconds(1796108709));
const std::string kFixedNonce = "3f8c5a1e0b7d4c2a9e6f1b0d8c7a5e3f";

TEST(AlibabaSdkJudge, AccessKeySignatureMatchesTheSdk) {
  AcsCredentials c{"LTAI5tExampleKeyId00001", "ExampleSecret/with+chars=", "", std::nullopt};
  Acs3Request r = sampleRequest();
  acs3Sign(r, c, kFixedTime, kFixedNonce);
  json sdk = sdkSign(r, c);
  ASSERT_TRUE(sdk.contains("authorization"));
  EXPECT_EQ(std::string(net::findHeader(r.headers, "Authorization")),
            sdk["authorization"].get<std::string>());
  EXPECT_EQ(std::string(net::findHeader(r.headers, "x-acs-content-sha256")),
            sdk["sha256"].get<std::string>());
  EXPECT_EQ(std::string(net::findHeader(r.headers, "x-acs-date")), "2026-12-01T07:05:09Z");
}

TEST(AlibabaSdkJudge, StsSignatureWithABodyMatchesTheSdk) {
  AcsCredentials c{"STS.NUexampleTemporaryKey", "tmp-secret", "CAIS+example/Token==", std::nullopt};
  Acs3Request r = sampleRequest();
  r.headers.emplace_back("content-type", "application/x-www-form-urlencoded");
  r.body = "OIDCToken=eyJhbGciOi.x.y&RoleArn=acs%3Aram%3A%3A1%3Arole%2Fr";
  acs3Sign(r, c, kFixedTime, kFixedNonce);
  EXPECT_EQ(std::string(net::findHeader(r.headers, "x-acs-security-token")), c.securityToken);
  json sdk = sdkSign(r, c);
  ASSERT_TRUE(sdk.contains("authorization"));
  EXPECT_EQ(std::string(net::findHeader(r.headers, "Authorization")),
            sdk["authorization"].get<std::string>());
  EXPECT_NE(sdk["authorization"].get<std::string>().find("x-acs-security-token"),
            std::string::npos);
}

TEST(AlibabaSdkJudge, ADifferentSecretDoesNotMatch) {
  // The comparison can fail: a changed secret gives a different signature than the SDK's.
  AcsCredentials c{"LTAI5tExampleKeyId00001", "secret-a", "", std::nullopt};
  Acs3Request r = sampleRequest();
  acs3Sign(r, AcsCredentials{c.accessKeyId, "secret-b", "", std::nullopt}, kFixedTime, kFixedNonce);
  json sdk = sdkSign(r, c);
  ASSERT_TRUE(sdk.contains("authorization"));
  EXPECT_NE(std::string(net::findHeader(r.headers, "Authorization")),
            sdk["authorization"].get<std::string>());
}

TEST(AlibabaSdkJudge, TheSdksEcsClientWorksAgainstTheFake) {
  testing::AlibabaHarness h;
  h.fake.failNext("DescribeInstanceTypes", 400, "Throttling.User",
                  "Request was denied due to user flow control.");
  std::string endpoint = h.fake.url().substr(std::string("http://").size());
  std::string out = runJudge("calls '" + endpoint + "' " + testing::kRegion + " '" +
                             testing::kAccessKeyId + "' '" + testing::kAccessKeySecret + "'");
  json j = json::parse(out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << out;
  EXPECT_TRUE(h.fake.problems().empty()) << h.fake.problems().front();
  EXPECT_EQ(h.fake.count("RunInstances"), 1u);
  EXPECT_GE(h.fake.count("DescribeInstances"), 1u);
  EXPECT_EQ(h.fake.count("DeleteInstance"), 2u);
  EXPECT_EQ(j.value("deleted", false), true) << out;
  ASSERT_TRUE(j.contains("privateIps")) << out;
  EXPECT_FALSE(j["privateIps"].empty());
  EXPECT_EQ(j["publicIps"].size(), 1u);  // InternetMaxBandwidthOut 100
  EXPECT_EQ(j["secondDelete"]["code"], "InvalidInstanceId.NotFound") << out;
  EXPECT_EQ(j["secondDelete"]["statusCode"], 404);
  EXPECT_EQ(j["throttled"]["code"], "Throttling.User") << out;
  EXPECT_TRUE(h.fake.instances().empty());

  // What the SDK sent for RunInstances is what upstream's request flattens to, and what our
  // provider sends for the same settings.
  auto sdkRun = h.fake.calls("RunInstances").front().params;
  EXPECT_EQ(sdkRun["SecurityGroupIds.2"], "sg-2ze0000000000000002");
  EXPECT_EQ(sdkRun["Tag.2.Value"], "a b/c");
  EXPECT_EQ(sdkRun["SecurityOptions.ConfidentialComputingMode"], "TDX");
  EXPECT_EQ(sdkRun["SystemDisk.Size"], "40");
  auto c = h.baseConfig();
  c.usePublicIp = true;
  c.keyName = "kp-1";
  auto p = h.make(c);
  ASSERT_TRUE(p);
  auto ours = p->runInstancesParams(pp::providers::testing::nginxRequest(), "t");
  ASSERT_TRUE(ours) << ours.error().message;
  std::set<std::string> sdkKeys, ourKeys;
  // Parameter shapes (Tag.N.Key, SecurityGroupIds.N, SystemDisk.Size): list lengths differ.
  const std::regex digits("[0-9]+");
  for (const auto& [k, v] : sdkRun) sdkKeys.insert(std::regex_replace(k, digits, "N"));
  for (const auto& [k, v] : *ours) ourKeys.insert(std::regex_replace(k, digits, "N"));
  EXPECT_EQ(ourKeys, sdkKeys);
  for (const char* k : {"Amount", "MinAmount", "InstanceChargeType", "InternetChargeType",
                        "InternetMaxBandwidthOut", "SystemDisk.Category", "SystemDisk.Size",
                        "SecurityOptions.ConfidentialComputingMode", "RegionId"})
    EXPECT_EQ(ours->at(k), sdkRun[k]) << k;
}

TEST(AlibabaSdkJudge, TheSdksStsCallsAreAccepted) {
  testing::AlibabaHarness h;
  h.fake.addAccessKey("STS.NUsdkTemporary", "sdk-sts-secret", "CAISsdkToken==");
  std::string endpoint = h.fake.url().substr(std::string("http://").size());
  std::string out = runJudge("calls '" + endpoint + "' " + testing::kRegion +
                             " STS.NUsdkTemporary sdk-sts-secret 'CAISsdkToken=='");
  json j = json::parse(out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << out;
  EXPECT_TRUE(h.fake.problems().empty()) << h.fake.problems().front();
  auto calls = h.fake.calls("RunInstances");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].securityToken, "CAISsdkToken==");
}

}  // namespace
}  // namespace pp::providers::alibabacloud
