// The ibmcloud provider against the provider contract (providers/testing/provider_contract.h),
// on the fake IAM, VPC and Global Tagging APIs.
#include <gtest/gtest.h>

#include "providers/ibmcloud/ibmcloud_test_harness.h"
#include "providers/testing/provider_contract.h"

namespace pp::providers::ibmcloud {

struct IbmCloudContractEnv {
  static constexpr bool kListsInstances = true;

  std::string skipReason() { return ""; }
  std::unique_ptr<Provider> makeProvider() { return h.make(h.baseConfig()); }
  bool exists(const std::string& id) { return h.vpc.instances().contains(id); }
  std::vector<std::string> leftovers() { return h.leftovers(); }
  // Attaching the tags, the last step, is refused after the instance was made.
  void failCreatesAfterTheInstanceExists() {
    h.vpc.failures().add("POST /v3/tags/attach", {400, "bad_request", "Tag quota exceeded", ""},
                         1000);
  }
  std::vector<std::string> secrets() {
    std::vector<std::string> s = {testing::FakeIam::kDefaultApiKey};
    for (const auto& c : h.vpc.calls())
      if (c.authorization.size() > 7) s.push_back(c.authorization.substr(7));
    return s;
  }

  testing::IbmHarness h;
};

}  // namespace pp::providers::ibmcloud

namespace pp::providers::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(IbmCloudContract, ProviderContract,
                               ::pp::providers::ibmcloud::IbmCloudContractEnv);
}
