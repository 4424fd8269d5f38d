// The registry's text output, read back by the Prometheus project's own parser.
#include "base/metrics.h"

#include <gtest/gtest.h>

#include <thread>

#include "base/testing/prometheus_judge.h"

namespace pp::metrics {
namespace {

TEST(Metrics, TextFormatIsWhatPrometheusReads) {
  Registry r;
  auto& calls = r.counter("peerpods_test_calls_total", "Calls by operation and result.",
                          {"operation", "result"});
  calls.with({"create", "ok"}).inc();
  calls.with({"create", "ok"}).inc(2);
  calls.with({"delete", "Unavailable: \"quoted\"\nnew\\line"}).inc();
  r.gauge("peerpods_test_tunnels", "Open tunnels.").with().set(3);
  auto& h = r.histogram("peerpods_test_duration_seconds", "How long.\nTwo lines.", {0.1, 1, 10},
                        {"provider"});
  h.with({"aws"}).observe(0.05);
  h.with({"aws"}).observe(0.5);
  h.with({"aws"}).observe(100);
  auto handle = r.gaugeCallback("peerpods_test_sandboxes", "Sandboxes by phase.", {"phase"}, [] {
    return GaugeSamples{{{"running"}, 2}, {{"failed"}, 0}};
  });

  auto text = r.render();
  auto parsed = pp::testing::parsePrometheusText(text);
  ASSERT_TRUE(parsed.error.empty()) << parsed.error << "\n" << text;
  EXPECT_EQ(parsed.type("peerpods_test_calls"), "counter");
  EXPECT_EQ(parsed.type("peerpods_test_tunnels"), "gauge");
  EXPECT_EQ(parsed.type("peerpods_test_duration_seconds"), "histogram");
  EXPECT_EQ(parsed.value("peerpods_test_calls_total", {{"operation", "create"}, {"result", "ok"}}),
            3);
  // Escaped label values come back as they were.
  EXPECT_EQ(
      parsed.value("peerpods_test_calls_total", {{"result", "Unavailable: \"quoted\"\nnew\\line"}}),
      1);
  EXPECT_EQ(parsed.value("peerpods_test_tunnels"), 3);
  EXPECT_EQ(parsed.value("peerpods_test_duration_seconds_bucket", {{"le", "0.1"}}), 1);
  EXPECT_EQ(parsed.value("peerpods_test_duration_seconds_bucket", {{"le", "1"}}), 2);
  EXPECT_EQ(parsed.value("peerpods_test_duration_seconds_bucket", {{"le", "+Inf"}}), 3);
  EXPECT_EQ(parsed.value("peerpods_test_duration_seconds_count", {{"provider", "aws"}}), 3);
  EXPECT_DOUBLE_EQ(*parsed.value("peerpods_test_duration_seconds_sum"), 100.55);
  EXPECT_EQ(parsed.value("peerpods_test_sandboxes", {{"phase", "running"}}), 2);

  // Once its owner is gone, a callback gauge has no samples (and is not called).
  handle.reset();
  auto after = pp::testing::parsePrometheusText(r.render());
  ASSERT_TRUE(after.error.empty()) << after.error;
  EXPECT_FALSE(after.value("peerpods_test_sandboxes", {{"phase", "running"}}));
}

TEST(Metrics, TheJudgeRejectsBrokenText) {
  // The judge is not a rubber stamp: a sample line that is not the format fails.
  auto parsed = pp::testing::parsePrometheusText("# TYPE x counter\nx{a=\"1} 2\n");
  EXPECT_FALSE(parsed.error.empty());
}

TEST(Metrics, SameNameGivesTheSameFamilyAndTypesDoNotMix) {
  Registry r;
  auto& a = r.counter("peerpods_x_total", "X.");
  auto& b = r.counter("peerpods_x_total", "X again.");
  EXPECT_EQ(&a, &b);
  EXPECT_THROW(r.gauge("peerpods_x_total", "X."), std::logic_error);
}

TEST(Metrics, ConcurrentUpdatesAreNotLost) {
  Registry r;
  auto& c = r.counter("peerpods_c_total", "C.", {"k"});
  auto& h = r.histogram("peerpods_h_seconds", "H.", durationBuckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.with({"v"}).inc();
        h.with().observe(0.2);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.with({"v"}).value(), 40000);
  EXPECT_EQ(h.with().snapshot().count, 40000u);
}

}  // namespace
}  // namespace pp::metrics
