// The vsphere provider against the provider contract (providers/testing/provider_contract.h),
// on govmomi's vCenter simulator (testing/vcsim).
#include <gtest/gtest.h>

#include "providers/testing/provider_contract.h"
#include "providers/vsphere/testing/vsphere_harness.h"

namespace pp::providers::vsphere {

struct VsphereContractEnv {
  static constexpr bool kListsInstances = true;

  std::string skipReason() { return ""; }
  std::unique_ptr<Provider> makeProvider() {
    auto c = h.baseConfig();
    // A failing create waits for an address that never comes.
    if (failing) c.ipTimeout = std::chrono::seconds(2);
    return h.make(c);
  }
  bool exists(const std::string& id) {
    for (const auto& vm : h.sim.vms())
      if (vm["uuid"] == id) return true;
    return false;
  }
  std::vector<std::string> leftovers() {
    std::vector<std::string> out;
    for (const auto& vm : h.sim.vms()) out.push_back("VM " + vm["name"].get<std::string>());
    return out;
  }
  // The clone is made and powered on, but never reports a guest address.
  void failCreatesAfterTheInstanceExists() {
    auto r = h.sim.command("ip off");
    EXPECT_TRUE(r) << r.error().message;
    failing = true;
  }
  std::vector<std::string> secrets() {
    std::vector<std::string> s = h.sim.sessionKeys();
    s.push_back(testing::kVcsimPassword);
    s.push_back(testing::kVcsimUser);  // upstream marks the user name secret too
    return s;
  }

  testing::VsphereHarness h;
  bool failing = false;
};

}  // namespace pp::providers::vsphere

namespace pp::providers::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(VsphereContract, ProviderContract,
                               ::pp::providers::vsphere::VsphereContractEnv);
}
