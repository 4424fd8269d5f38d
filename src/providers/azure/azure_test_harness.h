// For the azure tests: the fake Resource Manager and Entra endpoints (fake_azure.h), an SSH
// public key file, and AzureProviders set up against them (no real sleeping, a settable clock).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "providers/azure/azure_provider.h"
#include "providers/azure/fake_azure.h"

namespace pp::providers::azure::testing {

inline constexpr char kPubKey[] =
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDpeerpodstestkeyonlyforthefakeazurevmputbody== test";

// The directory of tempFile(); a Harness removes it when it goes.
inline std::filesystem::path tempDir() {
  return std::filesystem::temp_directory_path() / ("pp-azure-" + std::to_string(::getpid()));
}

inline std::string tempFile(const std::string& name, const std::string& content) {
  auto dir = tempDir();
  std::filesystem::create_directories(dir);
  auto p = dir / name;
  std::ofstream(p) << content;
  return p.string();
}

struct Harness {
  ~Harness() { std::filesystem::remove_all(tempDir()); }

  FakeAzure fake;
  std::atomic<int> sleeps{0};
  std::vector<long> sleptMs;
  std::mutex mu;
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now();

  AzureConfig config() {
    AzureConfig c;
    c.clientId = kClientId;
    c.clientSecret = kClientSecret;
    c.tenantId = kTenant;
    c.subscriptionId = kSub;
    c.resourceGroup = kGroup;
    c.region = "eastus";
    c.subnetId = std::string("/subscriptions/") + kSub + "/resourceGroups/" + kGroup +
                 "/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default";
    c.imageId = "/CommunityGalleries/cocopodvm-d0e4f35f/Images/podvm_image0/Versions/0.13.0";
    c.size = "Standard_DC2as_v5";
    c.sshUserName = "peerpod";
    c.sshKeyPath = tempFile("id_rsa.pub", std::string(kPubKey) + "\n");
    c.resourceManagerEndpoint = fake.url();
    c.authorityHost = fake.url();
    c.imdsEndpoint = fake.url();
    c.diskType = "Premium_LRS";
    c.mutatingCallsPerSecond = 0;
    c.tags = {{"team", "peerpods"}};
    c.nodeName = "worker-1";
    return c;
  }
  std::unique_ptr<AzureProvider> make(const AzureConfig& c) {
    AzureDependencies d;
    d.env = flags::mapEnv({});
    d.sleep = [this](std::chrono::milliseconds ms) {
      std::lock_guard lock(mu);
      ++sleeps;
      sleptMs.push_back(static_cast<long>(ms.count()));
    };
    d.clock = [this] {
      std::lock_guard lock(mu);
      return now;
    };
    d.pollInterval = std::chrono::milliseconds(1);
    auto p = AzureProvider::create(c, d);
    EXPECT_TRUE(p) << p.error().message;
    return p ? std::move(*p) : nullptr;
  }
};

}  // namespace pp::providers::azure::testing
