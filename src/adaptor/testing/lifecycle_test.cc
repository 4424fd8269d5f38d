// LifecycleDriver itself: a pod's life over ttrpc through the real hypervisor service makes one
// instance and deletes it, and a provider's failure reaches the caller as the shim would see it.
#include "adaptor/testing/lifecycle.h"

#include <gtest/gtest.h>

#include "base/metrics.h"
#include "base/testing/prometheus_judge.h"

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

// The adaptor's /metrics move as a pod lives and dies (read by Prometheus's own parser; the
// registry is the process's, so the test compares before and after).
TEST(LifecycleDriverTest, MetricsFollowAPodsLife) {
  auto scrape = [] {
    auto parsed = pp::testing::parsePrometheusText(metrics::global().render());
    EXPECT_TRUE(parsed.error.empty()) << parsed.error;
    return parsed;
  };
  auto value = [](const pp::testing::ParsedMetrics& m, const std::string& name,
                  const nlohmann::json& labels = {}) { return m.value(name, labels).value_or(0); };
  MemoryProvider provider;
  LifecycleDriver driver(provider);
  auto before = scrape();
  ASSERT_TRUE(driver.createVM(kId));
  ASSERT_TRUE(driver.startVM(kId));
  auto running = scrape();
  EXPECT_EQ(value(running, "peerpods_adaptor_sandboxes", {{"phase", "running"}}), 1);
  EXPECT_EQ(value(running, "peerpods_adaptor_tunnels"), 1);
  EXPECT_EQ(
      value(running, "peerpods_provider_calls_total", {{"operation", "create"}, {"result", "ok"}}) -
          value(before, "peerpods_provider_calls_total",
                {{"operation", "create"}, {"result", "ok"}}),
      1);
  for (const char* h : {"peerpods_adaptor_createvm_duration_seconds_count",
                        "peerpods_adaptor_startvm_duration_seconds_count",
                        "peerpods_adaptor_agent_wait_seconds_count",
                        "peerpods_provider_create_duration_seconds_count"}) {
    EXPECT_EQ(value(running, h) - value(before, h), 1) << h;
  }
  EXPECT_EQ(running.type("peerpods_adaptor_startvm_duration_seconds"), "histogram");
  ASSERT_TRUE(driver.stopVM(kId));
  auto stopped = scrape();
  EXPECT_EQ(value(stopped, "peerpods_adaptor_sandboxes", {{"phase", "running"}}), 0);
  EXPECT_EQ(value(stopped, "peerpods_adaptor_tunnels"), 0);
  EXPECT_EQ(
      value(stopped, "peerpods_provider_calls_total", {{"operation", "delete"}, {"result", "ok"}}) -
          value(before, "peerpods_provider_calls_total",
                {{"operation", "delete"}, {"result", "ok"}}),
      1);
  EXPECT_EQ(value(stopped, "peerpods_adaptor_stopvm_duration_seconds_count") -
                value(before, "peerpods_adaptor_stopvm_duration_seconds_count"),
            1);
}

}  // namespace
}  // namespace pp::adaptor::testing
