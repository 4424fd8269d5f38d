// The gcp provider against the provider contract (providers/testing/provider_contract.h), on
// the fake Compute Engine and OAuth2 endpoints (fake_gcp.h).
#include <gtest/gtest.h>

#include "providers/gcp/gcp_test_harness.h"
#include "providers/testing/provider_contract.h"

namespace pp::providers::gcp {

struct GcpContractEnv {
  static constexpr bool kListsInstances = true;

  std::string skipReason() { return ""; }
  std::unique_ptr<Provider> makeProvider() { return h.make(h.baseConfig()); }
  bool exists(const std::string& id) { return h.fake.instances().contains(id); }
  std::vector<std::string> leftovers() {
    std::vector<std::string> out;
    for (const auto& [name, i] : h.fake.instances()) out.push_back("instance " + name);
    return out;
  }
  // The insert operation ends with a quota error although the instance was made.
  void failCreatesAfterTheInstanceExists() {
    h.fake.failNextInsertOperation("QUOTA_EXCEEDED", "Quota 'CPUS' exceeded.", 403, true);
  }
  std::vector<std::string> secrets() {
    std::vector<std::string> s = h.fake.issuedTokens();
    for (const auto& a : h.fake.assertions()) s.push_back(a);
    // A line of the private key's base64 body.
    const std::string& pem = testing::key().privatePem;
    s.push_back(pem.substr(pem.find('\n') + 1, 64));
    return s;
  }

  testing::GcpHarness h;
};

}  // namespace pp::providers::gcp

namespace pp::providers::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(GcpContract, ProviderContract, ::pp::providers::gcp::GcpContractEnv);
}
