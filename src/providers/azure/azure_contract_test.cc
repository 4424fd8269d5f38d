// The azure provider against the provider contract (providers/testing/provider_contract.h), on
// the fake Resource Manager and Entra endpoints (fake_azure.h).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "providers/azure/azure_provider.h"
#include "providers/azure/fake_azure.h"
#include "providers/testing/provider_contract.h"

namespace pp::providers::azure {

// Named (not in an anonymous namespace): ctest shows it in the test names.
struct AzureContractEnv {
  static constexpr bool kListsInstances = true;

  AzureContractEnv() {
    dir = std::filesystem::temp_directory_path() / ("pp-azure-ct-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "id_rsa.pub") << "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDcontract== ct\n";
  }
  ~AzureContractEnv() { std::filesystem::remove_all(dir); }
  std::string skipReason() { return ""; }

  std::unique_ptr<Provider> makeProvider() {
    AzureConfig c;
    c.clientId = testing::kClientId;
    c.clientSecret = testing::kClientSecret;
    c.tenantId = testing::kTenant;
    c.subscriptionId = testing::kSub;
    c.resourceGroup = testing::kGroup;
    c.region = "eastus";
    c.subnetId = std::string("/subscriptions/") + testing::kSub + "/resourceGroups/" +
                 testing::kGroup + "/providers/Microsoft.Network/virtualNetworks/v/subnets/s";
    c.imageId = "/CommunityGalleries/cocopodvm-d0e4f35f/Images/podvm_image0/Versions/0.13.0";
    c.size = "Standard_DC2as_v5";
    c.sshUserName = "peerpod";
    c.sshKeyPath = (dir / "id_rsa.pub").string();
    c.resourceManagerEndpoint = fake.url();
    c.authorityHost = fake.url();
    c.imdsEndpoint = fake.url();
    c.mutatingCallsPerSecond = 0;
    AzureDependencies d;
    d.env = flags::mapEnv({});
    d.sleep = [](std::chrono::milliseconds) {};
    d.pollInterval = std::chrono::milliseconds(1);
    auto p = AzureProvider::create(c, d);
    EXPECT_TRUE(p) << p.error().message;
    return p ? std::unique_ptr<Provider>(std::move(*p)) : nullptr;
  }
  bool exists(const std::string& id) {
    auto vms = fake.vms();
    return vms.contains(id.substr(id.rfind('/') + 1));
  }
  std::vector<std::string> leftovers() {
    std::vector<std::string> out = fake.orphans();
    for (const auto& [name, vm] : fake.vms()) out.push_back("VM " + name);
    return out;
  }
  // The create operation ends Failed with the VM (and its NIC) made.
  void failCreatesAfterTheInstanceExists() {
    fake.failCreateCode = "OSProvisioningTimedOut";
    fake.failCreateMessage = "OS Provisioning for VM did not finish in the allotted time.";
  }
  std::vector<std::string> secrets() {
    std::vector<std::string> s = fake.tokensIssued();
    s.push_back(testing::kClientSecret);
    return s;
  }

  std::filesystem::path dir;
  testing::FakeAzure fake;
};

}  // namespace pp::providers::azure

namespace pp::providers::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(AzureContract, ProviderContract,
                               ::pp::providers::azure::AzureContractEnv);
}
