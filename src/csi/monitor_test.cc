#include "csi/monitor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "csi/state_machine.h"
#include "fake_kube_api.h"

namespace pp::csi {
namespace {

using namespace std::chrono_literals;

template <typename Pred>
bool waitFor(Pred pred, std::chrono::milliseconds limit = 5000ms) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

// Only --namespace is watched (the requests name it), objects without spec.volumeID are
// skipped, every change reaches the sync, a sync that asks for a retry gets one, and one name
// is never synced on two workers at once.
TEST(CsiMonitor, NamespaceFilteredSyncsWithRetry) {
  auto api = fakes::FakeKubeApi::start();
  auto client = std::make_shared<const k8s::Client>(api->clientConfig());
  api->seed("peerpodvolumes", newVolume("kube-system", "vol-a", "pvc-a"));
  api->seed("peerpodvolumes", newVolume("other", "vol-b", "pvc-b"));
  Json empty = newVolume("kube-system", "vol-empty", "pvc-e");
  empty["spec"]["volumeID"] = "";
  api->seed("peerpodvolumes", empty);

  std::mutex mu;
  std::vector<std::string> seen;
  std::atomic<int> concurrent{0}, maxConcurrent{0}, retries{0};
  VolumeMonitor monitor(
      client, "kube-system",
      [&](const Json& v) {
        int now = ++concurrent;
        maxConcurrent = std::max(maxConcurrent.load(), now);
        std::this_thread::sleep_for(5ms);
        std::string entry = k8s::field(v, "metadata", "name") + ":" + stateOf(v);
        {
          std::lock_guard lock(mu);
          seen.push_back(entry);
        }
        --concurrent;
        if (stateOf(v) == "retry-me" && retries++ < 2) return SyncResult::kRetry;
        return SyncResult::kDone;
      },
      MonitorOptions{.workers = 2, .resync = 60s, .retryDelay = 50ms, .watchTimeoutSeconds = 5});
  monitor.start();
  ASSERT_TRUE(waitFor([&] { return monitor.synced(); }));
  auto count = [&](const std::string& entry) {
    std::lock_guard lock(mu);
    return std::count(seen.begin(), seen.end(), entry);
  };
  ASSERT_TRUE(waitFor([&] { return count("vol-a:") == 1; }));

  Json a = *api->object("peerpodvolumes", "kube-system", "vol-a");
  a["status"] = Json{{"state", "retry-me"}};
  api->seed("peerpodvolumes", a);
  ASSERT_TRUE(waitFor([&] { return count("vol-a:retry-me") == 3; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(count("vol-a:retry-me"), 3);  // two retries, then done

  for (int i = 0; i < 5; ++i) {
    a = *api->object("peerpodvolumes", "kube-system", "vol-a");
    a["status"] = Json{{"state", "s" + std::to_string(i)}};
    api->seed("peerpodvolumes", a);
  }
  ASSERT_TRUE(waitFor([&] { return count("vol-a:s4") >= 1; }));
  monitor.stop();
  std::lock_guard lock(mu);
  for (const auto& e : seen) {
    EXPECT_EQ(e.rfind("vol-a:", 0), 0u) << e;  // never vol-b (other namespace), never vol-empty
  }
  EXPECT_EQ(maxConcurrent.load(), 1);
  for (const auto& r : api->requests()) {
    if (r.path.find("peerpodvolumes") != std::string::npos) {
      EXPECT_EQ(
          r.path.rfind("/apis/confidentialcontainers.org/v1alpha1/namespaces/kube-system/", 0), 0u)
          << r.path;
    }
  }
}

}  // namespace
}  // namespace pp::csi
