// A pod's whole life through the hypervisor service (the shim's CreateVM/StartVM/StopVM over
// ttrpc, adaptor/testing/lifecycle.h) with the alibabacloud provider on the fake endpoints.
#include <gtest/gtest.h>

#include "adaptor/testing/lifecycle.h"
#include "providers/alibabacloud/testing/harness.h"

namespace pp::providers::alibabacloud {
namespace {

using testing::AlibabaHarness;

// The shim's CreateVM/StartVM/StopVM through the hypervisor service make one instance and
// delete it.
TEST(AlibabaLifecycle, APodsLifeMakesOneInstanceAndDeletesIt) {
  AlibabaHarness h;
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  adaptor::testing::LifecycleDriver driver(*p);
  const std::string sandbox = "5a4dbe1e0c7f00112233445566778899";
  ASSERT_TRUE(
      driver.createVM(sandbox, {{"io.katacontainers.config.hypervisor.image", "m-annotated"}}));
  auto st = driver.startVM(sandbox);
  ASSERT_TRUE(st) << st.error().message;
  std::string id = driver.instanceId(sandbox);
  EXPECT_TRUE(h.fake.instances().contains(id));
  EXPECT_EQ(h.fake.instances().at(id).params.at("ImageId"), "m-annotated");
  ASSERT_TRUE(driver.stopVM(sandbox));
  EXPECT_EQ(h.fake.count("RunInstances"), 1u);
  EXPECT_EQ(h.fake.count("DeleteInstance"), 1u);
  EXPECT_EQ(h.fake.calls("DeleteInstance")[0].params["InstanceId"], id);
  EXPECT_TRUE(h.leftovers().empty());
  EXPECT_TRUE(h.fake.problems().empty()) << h.fake.problems().front();
}

// The webhook's sizing annotations reach RunInstances through the service: the smallest fitting
// type of -instance-types.
TEST(AlibabaLifecycle, SizingAnnotationsChooseTheInstanceType) {
  AlibabaHarness h;
  auto c = h.baseConfig();
  c.instanceTypes = {"ecs.g8i.large", "ecs.g8i.xlarge", "ecs.g8i.2xlarge"};
  auto p = h.make(c);
  ASSERT_TRUE(p);
  adaptor::testing::LifecycleDriver driver(*p);
  const std::string sandbox = "6b5ecf2f1d8011223344556677889900";
  ASSERT_TRUE(
      driver.createVM(sandbox, {{"io.katacontainers.config.hypervisor.default_vcpus", "6"},
                                {"io.katacontainers.config.hypervisor.default_memory", "16384"}}));
  auto st = driver.startVM(sandbox);
  ASSERT_TRUE(st) << st.error().message;
  ASSERT_TRUE(driver.stopVM(sandbox));
  auto runs = h.fake.calls("RunInstances");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].params["InstanceType"], "ecs.g8i.2xlarge");
  EXPECT_EQ(h.fake.count("DeleteInstance"), 1u);
  EXPECT_TRUE(h.leftovers().empty());
}

}  // namespace
}  // namespace pp::providers::alibabacloud
