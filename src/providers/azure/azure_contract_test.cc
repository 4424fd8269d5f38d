// The azure provider against the provider contract (providers/testing/provider_contract.h), on
// the fake Resource Manager and Entra endpoints (fake_azure.h).
#include <gtest/gtest.h>

#include "providers/azure/azure_test_harness.h"
#include "providers/testing/provider_contract.h"

namespace pp::providers::azure {

struct AzureContractEnv {
  static constexpr bool kListsInstances = true;

  std::string skipReason() { return ""; }
  std::unique_ptr<Provider> makeProvider() { return h.make(h.config()); }
  bool exists(const std::string& id) { return h.fake.vms().contains(id.substr(id.rfind('/') + 1)); }
  std::vector<std::string> leftovers() {
    std::vector<std::string> out = h.fake.orphans();
    for (const auto& [name, vm] : h.fake.vms()) out.push_back("VM " + name);
    return out;
  }
  // The create operation ends Failed with the VM (and its NIC) made.
  void failCreatesAfterTheInstanceExists() {
    h.fake.failCreateCode = "OSProvisioningTimedOut";
    h.fake.failCreateMessage = "OS Provisioning for VM did not finish in the allotted time.";
  }
  std::vector<std::string> secrets() {
    std::vector<std::string> s = h.fake.tokensIssued();
    s.push_back(testing::kClientSecret);
    return s;
  }

  testing::Harness h;
};

}  // namespace pp::providers::azure

namespace pp::providers::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(AzureContract, ProviderContract,
                               ::pp::providers::azure::AzureContractEnv);
}
