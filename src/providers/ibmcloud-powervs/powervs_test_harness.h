// For the ibmcloud-powervs tests: the fake IAM token endpoint (providers/ibmcloud/testing) and
// the fake PowerVS + IAM Identity endpoints (testing/fake_powervs.h), and PowerVsProviders set
// up against them with the real IAM token source (no real sleeping; the waits are recorded).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "providers/ibmcloud-powervs/powervs_provider.h"
#include "providers/ibmcloud-powervs/testing/fake_powervs.h"
#include "providers/ibmcloud/testing/fake_iam.h"

namespace pp::providers::powervs::testing {

struct PowerVsHarness {
  PowerVsConfig baseConfig() {
    PowerVsConfig c;
    c.apiKey = ibmcloud::testing::FakeIam::kDefaultApiKey;
    c.zone = kZone;
    c.serviceInstanceId = kWorkspaceId;
    c.networkId = kNetworkId;
    c.imageId = kImageId;
    c.sshKey = "peerpods-key";
    c.endpoint = fake.url();
    c.iamUrl = iam.baseUrl();
    c.mutatingCallsPerSecond = 0;
    return c;
  }

  PowerVsDependencies deps() {
    PowerVsDependencies d;
    d.sleep = [this](std::chrono::milliseconds ms) {
      std::lock_guard lock(mu);
      sleeps.push_back(ms);
    };
    d.identityUrl = fake.url();
    return d;
  }

  std::unique_ptr<PowerVsProvider> make(const PowerVsConfig& c) {
    auto p = PowerVsProvider::create(c, deps());
    EXPECT_TRUE(p) << p.error().message;
    return p ? std::move(*p) : nullptr;
  }
  std::unique_ptr<PowerVsProvider> make() { return make(baseConfig()); }

  std::vector<std::string> allProblems() const {
    auto p = fake.problems();
    for (auto& x : iam.problems()) p.push_back("iam: " + x);
    return p;
  }

  ibmcloud::testing::FakeIam iam;
  FakePowerVs fake{iam};
  std::mutex mu;
  std::vector<std::chrono::milliseconds> sleeps;
};

}  // namespace pp::providers::powervs::testing
