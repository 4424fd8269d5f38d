// A pod's whole life through the adaptor (the shim's CreateVM, StartVM, StopVM over ttrpc) with
// the ibmcloud provider on the fake IAM and VPC: exactly one instance is created, and deleted.
#include <gtest/gtest.h>

#include "adaptor/testing/lifecycle.h"
#include "providers/ibmcloud/ibmcloud_test_harness.h"

namespace pp::providers::ibmcloud {
namespace {

TEST(IbmCloudLifecycle, CreateStartStopMakesAndDeletesOneInstance) {
  testing::IbmHarness h;
  auto c = h.baseConfig();
  c.profileList = {"bx2-2x8", "bx2-4x16"};
  auto p = h.make(c);
  ASSERT_TRUE(p);
  adaptor::testing::LifecycleDriver driver(*p);
  const std::string id = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
  ASSERT_TRUE(
      driver.createVM(id, {{"io.kubernetes.cri.sandbox-name", "web-1"},
                           {"io.katacontainers.config.hypervisor.default_vcpus", "4"},
                           {"io.katacontainers.config.hypervisor.default_memory", "16384"}}));
  EXPECT_TRUE(h.vpc.calls("POST /v1/instances").empty());
  auto started = driver.startVM(id);
  ASSERT_TRUE(started) << started.error().message;
  auto made = h.vpc.instances();
  ASSERT_EQ(made.size(), 1u);
  const auto& fake = made.begin()->second;
  EXPECT_EQ(driver.instanceId(id), fake.id);
  EXPECT_EQ(driver.vmIps(id), fake.ips);
  EXPECT_EQ(fake.prototype["profile"]["name"], "bx2-4x16");
  const std::string userData = fake.prototype["user_data"];
  EXPECT_EQ(userData.rfind("#cloud-config", 0), 0u) << userData.substr(0, 40);
  EXPECT_NE(userData.find("/run/peerpod/apf.json"), std::string::npos);
  ASSERT_TRUE(driver.stopVM(id));
  EXPECT_TRUE(h.vpc.instances().empty());
  EXPECT_EQ(h.vpc.createsApplied(), 1);
  EXPECT_EQ(h.vpc.deletesApplied(), 1);
  EXPECT_EQ(h.vpc.calls("POST /v1/instances").size(), 1u);
  EXPECT_EQ(h.vpc.calls("DELETE /v1/instances/").size(), 1u);
  EXPECT_TRUE(h.vpc.problems().empty()) << h.vpc.problems().front();
}

}  // namespace
}  // namespace pp::providers::ibmcloud
