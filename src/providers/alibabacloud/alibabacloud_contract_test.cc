// The alibabacloud provider against the provider contract (providers/testing/provider_contract.h),
// on the fake ECS/VPC endpoints (testing/fake_ecs.h), with an extra NIC and an EIP per instance
// (-ext-network-via-podvm and -use-public-ip are what leaves most behind when a create fails).
#include <gtest/gtest.h>

#include "providers/alibabacloud/testing/harness.h"
#include "providers/testing/provider_contract.h"

namespace pp::providers::alibabacloud {

struct AlibabaContractEnv {
  static constexpr bool kListsInstances = true;

  std::string skipReason() { return ""; }
  std::unique_ptr<Provider> makeProvider() { return h.make(h.baseConfig()); }
  bool exists(const std::string& id) { return h.fake.instances().contains(id); }
  std::vector<std::string> leftovers() { return h.leftovers(); }
  // The instance exists, then the first look at it is refused.
  void failCreatesAfterTheInstanceExists() {
    h.fake.failNext("DescribeInstances", 403, "Forbidden.RAM",
                    "User not authorized to operate on the specified resource.");
  }
  std::vector<std::string> secrets() { return h.fake.secrets(); }

  testing::AlibabaHarness h;
};

}  // namespace pp::providers::alibabacloud

namespace pp::providers::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(AlibabaContract, ProviderContract,
                               ::pp::providers::alibabacloud::AlibabaContractEnv);
}
