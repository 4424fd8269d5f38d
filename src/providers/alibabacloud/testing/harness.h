// For the alibabacloud tests: the fake endpoints (fake_ecs.h) with an AccessKey they accept,
// instance types and a vSwitch, and AlibabaProviders set up against them (no real sleeping; the
// waits are counted).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "providers/alibabacloud/alibabacloud_provider.h"
#include "providers/alibabacloud/testing/fake_ecs.h"

namespace pp::providers::alibabacloud::testing {

inline constexpr char kRegion[] = "cn-beijing";
inline constexpr char kAccessKeyId[] = "LTAI5tTestKey0000000001";
inline constexpr char kAccessKeySecret[] = "test-secret-Zm9vYmFyYmF6cXV4";
inline constexpr char kVSwitch[] = "vsw-2ze0000000000000001";
inline constexpr char kVpc[] = "vpc-2ze0000000000000001";
inline constexpr char kSg1[] = "sg-2ze0000000000000001";
inline constexpr char kSg2[] = "sg-2ze0000000000000002";

struct AlibabaHarness {
  AlibabaHarness() : fake(kRegion) {
    fake.addAccessKey(kAccessKeyId, kAccessKeySecret);
    fake.addInstanceType("ecs.g8i.xlarge", 4, 16);
    fake.addInstanceType("ecs.g8i.2xlarge", 8, 32);
    fake.addInstanceType("ecs.g8i.large", 2, 8);
    fake.addInstanceType("ecs.gn7i-c8g1.2xlarge", 8, 30, 1, "NVIDIA A10");
    fake.addVSwitch(kVSwitch, kVpc);
  }

  AlibabaConfig baseConfig() {
    AlibabaConfig c;
    c.accessKeyId = kAccessKeyId;
    c.secretKey = kAccessKeySecret;
    c.region = kRegion;
    c.imageId = "m-2zepodvmimage0001";
    c.vswitchId = kVSwitch;
    c.securityGroupIds = {kSg1, kSg2};
    c.ecsEndpoint = fake.url();
    c.vpcEndpoint = fake.url();
    c.stsEndpoint = fake.url();
    c.metadataEndpoint = fake.url();
    c.mutatingCallsPerSecond = 0;
    return c;
  }

  AlibabaDependencies deps(std::map<std::string, std::string> env = {}) {
    AlibabaDependencies d;
    env.emplace("NODE_NAME", "worker-1");
    d.env = flags::mapEnv(env);
    d.sleep = [this](std::chrono::milliseconds ms) {
      std::lock_guard l(mu);
      sleeps.push_back(ms);
    };
    return d;
  }

  std::unique_ptr<AlibabaProvider> make(const AlibabaConfig& c,
                                        std::map<std::string, std::string> env = {}) {
    auto p = AlibabaProvider::create(c, deps(std::move(env)));
    EXPECT_TRUE(p) << p.error().message;
    return p ? std::move(*p) : nullptr;
  }

  std::vector<std::string> leftovers() {
    std::vector<std::string> out;
    for (const auto& [id, i] : fake.instances()) out.push_back("instance " + id);
    for (const auto& [id, n] : fake.nics()) out.push_back("network interface " + id);
    for (const auto& [id, e] : fake.eips()) out.push_back("EIP " + id);
    return out;
  }

  size_t sleepCount() {
    std::lock_guard l(mu);
    return sleeps.size();
  }

  FakeEcs fake;
  std::mutex mu;
  std::vector<std::chrono::milliseconds> sleeps;
};

}  // namespace pp::providers::alibabacloud::testing
