// The gcp provider against the provider contract (providers/testing/provider_contract.h), on
// the fake Compute Engine and OAuth2 endpoints (fake_gcp.h).
#include <gtest/gtest.h>

#include "providers/gcp/fake_gcp.h"
#include "providers/gcp/gcp_provider.h"
#include "providers/testing/provider_contract.h"

namespace pp::providers::gcp {
namespace {

const testing::TestKey& key() {
  static testing::TestKey k = testing::makeTestKey();
  return k;
}

}  // namespace

// Named (not in an anonymous namespace): ctest shows it in the test names.
struct GcpContractEnv {
  static constexpr bool kListsInstances = true;

  GcpContractEnv() : fake("proj-1", "us-central1-a", key().publicPem) {}
  std::string skipReason() { return ""; }

  std::unique_ptr<Provider> makeProvider() {
    GcpConfig c;
    c.credentials = key().json(fake.tokenUri());
    c.projectId = "proj-1";
    c.zone = "us-central1-a";
    c.imageName = "podvm-image";
    c.machineType = "e2-medium";
    c.diskType = "pd-standard";
    c.network = "default";
    c.disableCvm = true;
    c.computeEndpoint = fake.computeEndpoint();
    c.resourceManagerEndpoint = fake.crmEndpoint();
    c.mutatingCallsPerSecond = 0;
    GcpDependencies d;
    d.env = flags::mapEnv({});
    d.sleep = [](std::chrono::milliseconds) {};
    auto p = GcpProvider::create(c, d);
    EXPECT_TRUE(p) << p.error().message;
    return p ? std::unique_ptr<Provider>(std::move(*p)) : nullptr;
  }
  bool exists(const std::string& id) { return fake.instances().contains(id); }
  std::vector<std::string> leftovers() {
    std::vector<std::string> out;
    for (const auto& [name, i] : fake.instances()) out.push_back("instance " + name);
    return out;
  }
  // The insert operation ends with a quota error although the instance was made.
  void failCreatesAfterTheInstanceExists() {
    fake.failNextInsertOperation("QUOTA_EXCEEDED", "Quota 'CPUS' exceeded.", 403, true);
  }
  std::vector<std::string> secrets() {
    std::vector<std::string> s = fake.issuedTokens();
    for (const auto& a : fake.assertions()) s.push_back(a);
    // A line of the private key's base64 body.
    const std::string& pem = key().privatePem;
    s.push_back(pem.substr(pem.find('\n') + 1, 64));
    return s;
  }

  testing::FakeGcp fake;
};

}  // namespace pp::providers::gcp

namespace pp::providers::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(GcpContract, ProviderContract, ::pp::providers::gcp::GcpContractEnv);
}
