// The aws provider against the provider contract (providers/testing/provider_contract.h), on
// the fake EC2 (fake_aws.h).
#include <gtest/gtest.h>

#include "providers/aws/aws_test_harness.h"
#include "providers/testing/provider_contract.h"

namespace pp::providers::aws {

struct AwsContractEnv {
  static constexpr bool kListsInstances = true;

  std::string skipReason() { return ""; }
  std::unique_ptr<Provider> makeProvider() { return h.make(h.config()); }
  bool exists(const std::string& id) {
    auto all = h.fake.instances();
    auto it = all.find(id);
    return it != all.end() && it->second.state != "terminated";
  }
  std::vector<std::string> leftovers() {
    std::vector<std::string> out;
    for (const auto& [id, i] : h.fake.instances())
      if (i.state != "terminated") out.push_back("instance " + id + " (" + i.state + ")");
    for (const auto& [id, n] : h.fake.nics()) out.push_back("network interface " + id);
    for (const auto& [id, a] : h.fake.addresses()) out.push_back("address " + id);
    return out;
  }
  // The instance starts, then dies on boot: the provider must terminate it.
  void failCreatesAfterTheInstanceExists() { h.fake.instanceDiesOnBoot = true; }
  std::vector<std::string> secrets() { return {testing::kSecret}; }

  testing::Harness h;
};

}  // namespace pp::providers::aws

namespace pp::providers::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(AwsContract, ProviderContract, ::pp::providers::aws::AwsContractEnv);
}
