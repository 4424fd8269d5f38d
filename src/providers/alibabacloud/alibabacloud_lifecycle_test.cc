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

}  // namespace
}  // namespace pp::providers::alibabacloud
