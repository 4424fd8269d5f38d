// The ibmcloud-powervs provider against the provider contract
// (providers/testing/provider_contract.h), on the fake IAM and PowerVS endpoints.
#include <gtest/gtest.h>

#include "providers/ibmcloud-powervs/powervs_test_harness.h"
#include "providers/testing/provider_contract.h"

namespace pp::providers::powervs {

struct PowerVsContractEnv {
  // PowerVS instances carry no tags; the provider lists by the instance name, which ends with
  // the sandbox id's prefix (docs/providers/ibmcloud-powervs.md).
  static constexpr bool kListsInstances = true;

  ~PowerVsContractEnv() { EXPECT_TRUE(h.allProblems().empty()) << h.allProblems().front(); }
  std::string skipReason() { return ""; }
  std::unique_ptr<Provider> makeProvider() { return h.make(); }
  bool exists(const std::string& id) { return h.fake.instances().contains(id); }
  std::vector<std::string> leftovers() {
    std::vector<std::string> out;
    for (const auto& [id, i] : h.fake.instances()) out.push_back("instance " + id);
    return out;
  }
  // The instance is made, then goes to ERROR while it builds.
  void failCreatesAfterTheInstanceExists() { h.fake.failNextBuild("insufficient resources"); }
  std::vector<std::string> secrets() {
    std::vector<std::string> s = {ibmcloud::testing::FakeIam::kDefaultApiKey};
    for (const auto& c : h.fake.calls()) {
      if (c.authorization.size() > 7) s.push_back(c.authorization.substr(7));  // "Bearer "
    }
    return s;
  }

  testing::PowerVsHarness h;
};

}  // namespace pp::providers::powervs

namespace pp::providers::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(PowerVsContract, ProviderContract,
                               ::pp::providers::powervs::PowerVsContractEnv);
}
