// The aws provider against the provider contract (providers/testing/provider_contract.h), on
// the fake EC2 (fake_aws.h).
#include <gtest/gtest.h>

#include "providers/aws/aws_provider.h"
#include "providers/aws/fake_aws.h"
#include "providers/testing/provider_contract.h"

namespace pp::providers::aws {
namespace {

constexpr char kKey[] = "AKIDPEERPODSCONTRACT";
constexpr char kSecret[] = "wJalrXUtnFEMI/contract/static+secret";

}  // namespace

// Named (not in an anonymous namespace): ctest shows it in the test names.
struct AwsContractEnv {
  static constexpr bool kListsInstances = true;

  AwsContractEnv() { fake.acceptCredentials(kKey, kSecret); }
  std::string skipReason() { return ""; }

  std::unique_ptr<Provider> makeProvider() {
    AwsConfig c;
    c.accessKeyId = kKey;
    c.secretKey = kSecret;
    c.region = "us-east-1";
    c.imageId = "ami-0123456789abcdef0";
    c.subnetId = "subnet-0bb1c79de3EXAMPLE";
    c.securityGroupIds = {"sg-0598c7d356EXAMPLE"};
    c.mutatingCallsPerSecond = 0;
    c.ipTimeout = std::chrono::seconds(5);
    AwsDependencies d;
    d.env = flags::mapEnv({{"AWS_ENDPOINT_URL", fake.url()},
                           {"AWS_EC2_METADATA_DISABLED", "true"},
                           {"HOME", "/nonexistent-home"}});
    d.sleep = [](std::chrono::milliseconds) {};
    d.pollInterval = std::chrono::milliseconds(5);
    auto p = AwsProvider::create(c, d);
    EXPECT_TRUE(p) << p.error().message;
    return p ? std::unique_ptr<Provider>(std::move(*p)) : nullptr;
  }
  bool exists(const std::string& id) {
    auto all = fake.instances();
    auto it = all.find(id);
    return it != all.end() && it->second.state != "terminated";
  }
  std::vector<std::string> leftovers() {
    std::vector<std::string> out;
    for (const auto& [id, i] : fake.instances())
      if (i.state != "terminated") out.push_back("instance " + id + " (" + i.state + ")");
    for (const auto& [id, n] : fake.nics()) out.push_back("network interface " + id);
    for (const auto& [id, a] : fake.addresses()) out.push_back("address " + id);
    return out;
  }
  // The instance starts, then dies on boot: the provider must terminate it.
  void failCreatesAfterTheInstanceExists() { fake.instanceDiesOnBoot = true; }
  std::vector<std::string> secrets() { return {kSecret}; }

  testing::FakeAws fake;
};

}  // namespace pp::providers::aws

namespace pp::providers::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(AwsContract, ProviderContract, ::pp::providers::aws::AwsContractEnv);
}
