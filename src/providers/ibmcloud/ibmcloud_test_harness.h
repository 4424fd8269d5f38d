// For the ibmcloud tests: the fake IAM and fake VPC/Global Tagging APIs with a small account
// (profiles, images, subnets, security groups, a key), and IbmCloudProviders set up against them
// (no real sleeping; the waits are recorded).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "providers/ibmcloud/ibmcloud_provider.h"
#include "providers/ibmcloud/testing/fake_iam.h"
#include "providers/ibmcloud/testing/fake_vpc.h"

namespace pp::providers::ibmcloud::testing {

inline constexpr char kClusterId[] = "c0ffee-cluster-1";
inline constexpr char kImageAmd64[] = "r022-4a1f-img-amd64";
inline constexpr char kImageS390x[] = "r022-77c2-img-s390x";
inline constexpr char kSubnet[] = "0717-subnet-primary";
inline constexpr char kSubnet2[] = "0717-subnet-secondary";
inline constexpr char kSg[] = "r022-sg-primary";
inline constexpr char kSg2[] = "r022-sg-secondary";
inline constexpr char kKey[] = "r022-key-1";

struct IbmHarness {
  IbmHarness() : vpc(iam) {
    vpc.addProfile("bx2-2x8", 2, 8);
    vpc.addProfile("bx2-4x16", 4, 16);
    vpc.addProfile("bx3dc-2x10", 2, 10);
    vpc.addProfile("bz2-2x8", 2, 8, "s390x");
    vpc.addImage(kImageAmd64, "amd64");
    vpc.addImage(kImageS390x, "s390x");
    vpc.addSubnet(kSubnet, "rg-from-subnet");
    vpc.addSubnet(kSubnet2);
    vpc.addSecurityGroup(kSg);
    vpc.addSecurityGroup(kSg2);
    vpc.addSecurityGroup("r022-sg-default", true);
    vpc.addKey(kKey);
  }

  IbmCloudConfig baseConfig() {
    IbmCloudConfig c;
    c.apiKey = FakeIam::kDefaultApiKey;
    c.iamServiceUrl = iam.tokenUrl();
    c.vpcServiceUrl = vpc.vpcUrl();
    c.taggingServiceUrl = vpc.taggingUrl();
    c.resourceGroupId = "rg-1";
    c.profileName = "bx2-2x8";
    c.zoneName = vpc.zone();
    c.primarySubnetId = kSubnet;
    c.primarySecurityGroupId = kSg;
    c.keyId = kKey;
    c.vpcId = vpc.vpcId();
    c.clusterId = kClusterId;
    c.imageIds = {kImageAmd64};
    c.tags = {"team:confidential", "env:test"};
    c.mutatingCallsPerSecond = 0;
    return c;
  }

  IbmCloudDependencies deps(std::map<std::string, std::string> env = {{"NODE_NAME", "worker-1"}}) {
    IbmCloudDependencies d;
    d.env = flags::mapEnv(std::move(env));
    d.sleep = [this](std::chrono::milliseconds ms) {
      std::lock_guard lock(mu);
      sleeps.push_back(ms);
    };
    // NODE_NAME is set, but the node lookup must not need a cluster: an unreachable API
    // server only gives a warning (as upstream).
    k8s::ClientConfig kc;
    kc.server = "http://127.0.0.1:1";
    kc.timeout = std::chrono::milliseconds(2000);
    d.kube = std::make_shared<k8s::Client>(kc);
    return d;
  }

  std::unique_ptr<IbmCloudProvider> make(const IbmCloudConfig& c) { return make(c, deps()); }
  std::unique_ptr<IbmCloudProvider> make(const IbmCloudConfig& c, IbmCloudDependencies d) {
    auto p = IbmCloudProvider::create(c, std::move(d));
    EXPECT_TRUE(p) << p.error().message;
    return p ? std::move(*p) : nullptr;
  }

  std::vector<std::string> leftovers() {
    std::vector<std::string> out;
    for (const auto& [id, i] : vpc.instances()) out.push_back("instance " + i.name + " " + id);
    return out;
  }

  FakeIam iam;
  FakeVpc vpc;
  std::mutex mu;
  std::vector<std::chrono::milliseconds> sleeps;
};

}  // namespace pp::providers::ibmcloud::testing
