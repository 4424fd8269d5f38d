// LifecycleDriver itself: a pod's life over ttrpc through the real hypervisor service makes one
// instance and deletes it, and a provider's failure reaches the caller as the shim would see it.
#include "adaptor/testing/lifecycle.h"

#include <gtest/gtest.h>

namespace pp::adaptor::testing {
namespace {

const std::string kId = "fedcba9876543210";

TEST(LifecycleDriverTest, OnePodMakesOneInstanceAndDeletesIt) {
  MemoryProvider provider;
  LifecycleDriver driver(provider);
  ASSERT_TRUE(driver.createVM(kId, {{"io.kubernetes.cri.sandbox-name", "web-1"}}));
  EXPECT_TRUE(provider.requests.empty());
  ASSERT_TRUE(driver.startVM(kId));
  ASSERT_EQ(provider.requests.size(), 1u);
  EXPECT_EQ(provider.requests[0].sandboxId, kId);
  EXPECT_EQ(provider.live.size(), 1u);
  EXPECT_EQ(driver.instanceId(kId), *provider.live.begin());
  EXPECT_EQ(driver.vmIps(kId), std::vector<std::string>{"198.18.0.10"});
  EXPECT_EQ(driver.openTunnels(), 1u);
  ASSERT_TRUE(driver.stopVM(kId));
  EXPECT_TRUE(provider.live.empty());
  EXPECT_EQ(provider.deleted.size(), 1u);
  EXPECT_EQ(driver.instanceId(kId), "");
  EXPECT_EQ(driver.openTunnels(), 0u);
  EXPECT_EQ(driver.events(),
            (std::vector<std::string>{"CreatingPodVM", "PodVMCreated", "PodVMAgentConnected"}));
}

TEST(LifecycleDriverTest, ProviderFailureReachesTheShim) {
  MemoryProvider provider;
  provider.createError = "quota exceeded";
  LifecycleDriver driver(provider);
  ASSERT_TRUE(driver.createVM(kId));
  auto s = driver.startVM(kId);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("quota exceeded"), std::string::npos) << s.error().message;
  EXPECT_TRUE(provider.live.empty());
  EXPECT_TRUE(driver.stopVM(kId));
}

}  // namespace
}  // namespace pp::adaptor::testing
