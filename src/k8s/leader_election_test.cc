// Lease-based leader election against the fake API server.
#include "k8s/leader_election.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "fake_kube_api.h"

namespace pp::k8s {
namespace {

using namespace std::chrono_literals;

LeaderElectionOptions fast(const std::string& who) {
  return {.ns = "pp-system",
          .name = "33f6c5d6.confidentialcontainers.org",
          .identity = who,
          .leaseDuration = 1000ms,
          .renewDeadline = 600ms,
          .retryPeriod = 50ms};
}

TEST(LeaderElection, OneHolderAtATimeAndHandOverOnRelease) {
  auto api = fakes::FakeKubeApi::start();
  Client client(api->clientConfig());
  LeaderElector a(client, fast("a"));
  LeaderElector b(client, fast("b"));
  ASSERT_TRUE(a.acquire({}));
  auto lease = api->object("leases", "pp-system", "33f6c5d6.confidentialcontainers.org");
  ASSERT_TRUE(lease);
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "a");
  EXPECT_EQ((*lease)["spec"]["leaseDurationSeconds"], 1);
  EXPECT_TRUE((*lease)["spec"]["renewTime"].get<std::string>().ends_with("Z"));

  auto bTry = b.tryAcquireOrRenew();
  ASSERT_TRUE(bTry);
  EXPECT_FALSE(*bTry);

  // a holds in the background while b waits; then a stops and releases.
  std::jthread holder([&](std::stop_token stop) {
    EXPECT_TRUE(a.hold(stop));
    a.release();
  });
  std::atomic<bool> bWon{false};
  std::jthread waiter([&](std::stop_token stop) { bWon = b.acquire(stop); });
  std::this_thread::sleep_for(1500ms);  // longer than the lease: a's renewals keep it
  EXPECT_FALSE(bWon);
  auto released = std::chrono::steady_clock::now();
  holder.request_stop();
  holder.join();
  waiter.join();
  EXPECT_TRUE(bWon);
  EXPECT_LT(std::chrono::steady_clock::now() - released, 500ms);  // no need to wait the lease out
  lease = api->object("leases", "pp-system", "33f6c5d6.confidentialcontainers.org");
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "b");
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
}

TEST(LeaderElection, ACrashedHolderIsReplacedAfterTheLeaseDuration) {
  auto api = fakes::FakeKubeApi::start();
  Client client(api->clientConfig());
  LeaderElector a(client, fast("a"));
  ASSERT_TRUE(a.acquire({}));  // and then a "crashes": it never renews
  LeaderElector b(client, fast("b"));
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(b.acquire({}));
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 900ms);
  EXPECT_LT(waited, 3s);
}

TEST(LeaderElection, HolderNoticesItLostTheLease) {
  auto api = fakes::FakeKubeApi::start();
  Client client(api->clientConfig());
  LeaderElector a(client, fast("a"));
  ASSERT_TRUE(a.acquire({}));
  // Someone else writes the Lease (a partition healed, say).
  auto lease = *api->object("leases", "pp-system", "33f6c5d6.confidentialcontainers.org");
  lease["spec"]["holderIdentity"] = "intruder";
  lease["spec"]["renewTime"] = microTimeNow();
  api->seed("leases", lease);
  EXPECT_FALSE(a.hold({}));

  // An API server that stops answering: a gives up after the renew deadline.
  LeaderElector c(client, fast("c"));
  api->failNext("GET", "/leases/", 503, "ServiceUnavailable", 1000);
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(c.hold({}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

}  // namespace
}  // namespace pp::k8s
