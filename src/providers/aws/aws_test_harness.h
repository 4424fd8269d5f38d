// For the aws tests: a fake EC2 (fake_aws.h) with static keys it accepts, and AwsProviders set
// up against it (endpoints, IMDS, no real sleeping, their waits counted).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "providers/aws/aws_provider.h"
#include "providers/aws/fake_aws.h"

namespace pp::providers::aws::testing {

inline constexpr char kKey[] = "AKIDPEERPODSTEST";
inline constexpr char kSecret[] = "wJalrXUtnFEMI/peerpods/static+secret";

struct Harness {
  FakeAws fake;
  std::map<std::string, std::string> env;
  std::atomic<int> sleeps{0};
  std::atomic<long> sleptMs{0};

  Harness() {
    fake.acceptCredentials(kKey, kSecret);
    env["AWS_ENDPOINT_URL"] = fake.url();
    env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = fake.url();
    env["HOME"] = "/nonexistent-home";
  }
  AwsConfig config() {
    AwsConfig c;
    c.accessKeyId = kKey;
    c.secretKey = kSecret;
    c.region = "us-east-1";
    c.imageId = "ami-0123456789abcdef0";
    c.instanceType = "m6a.large";
    c.subnetId = "subnet-0bb1c79de3EXAMPLE";
    c.securityGroupIds = {"sg-0598c7d356EXAMPLE", "sg-0aaaaaaaaaEXAMPLE"};
    c.keyName = "peerpods-key";
    c.nodeName = "worker-1";
    c.mutatingCallsPerSecond = 0;
    c.ipTimeout = std::chrono::seconds(5);
    return c;
  }
  std::unique_ptr<AwsProvider> make(const AwsConfig& c) {
    AwsDependencies d;
    d.env = flags::mapEnv(env);
    d.sleep = [this](std::chrono::milliseconds ms) {
      ++sleeps;
      sleptMs += ms.count();
    };
    d.pollInterval = std::chrono::milliseconds(5);
    auto p = AwsProvider::create(c, d);
    EXPECT_TRUE(p) << p.error().message;
    return p ? std::move(*p) : nullptr;
  }
};

}  // namespace pp::providers::aws::testing
