#include "base/elastic_pool.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <future>
#include <thread>

namespace pp {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Waits until `done` tasks finished, at most 10 s.
void waitFor(const std::atomic<int>& counter, int done) {
  auto until = Clock::now() + 10s;
  while (counter.load() < done && Clock::now() < until) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(counter.load(), done);
}

TEST(ElasticPool, BlockingTasksDoNotQueueBehindEachOther) {
  ElasticPool pool;
  std::atomic<int> finished{0};
  auto t0 = Clock::now();
  for (int i = 0; i < 200; ++i) {
    pool.post([&] {
      std::this_thread::sleep_for(300ms);
      ++finished;
    });
  }
  waitFor(finished, 200);
  // A fixed pool of 32 would need seven rounds (2.1 s).
  EXPECT_LT(Clock::now() - t0, 1500ms);
  EXPECT_EQ(pool.stats().peakThreads, 200u);
}

TEST(ElasticPool, TheLimitQueuesTheRest) {
  ElasticPool pool({.maxThreads = 2});
  std::atomic<int> running{0}, most{0}, finished{0};
  for (int i = 0; i < 8; ++i) {
    pool.post([&] {
      int now = ++running;
      int m = most.load();
      while (now > m && !most.compare_exchange_weak(m, now)) {
      }
      std::this_thread::sleep_for(20ms);
      --running;
      ++finished;
    });
  }
  waitFor(finished, 8);
  EXPECT_EQ(most.load(), 2);
  EXPECT_EQ(pool.stats().peakThreads, 2u);
  EXPECT_EQ(pool.stats().queued, 0u);
}

TEST(ElasticPool, AnIdleThreadIsReusedThenExits) {
  ElasticPool pool({.idleTimeout = 200ms});
  std::atomic<int> finished{0};
  for (int i = 1; i <= 5; ++i) {
    pool.post([&] { ++finished; });
    waitFor(finished, i);
    std::this_thread::sleep_for(5ms);  // the thread is back to waiting
  }
  EXPECT_EQ(pool.stats().peakThreads, 1u);
  auto until = Clock::now() + 5s;
  while (pool.stats().threads > 0 && Clock::now() < until) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(pool.stats().threads, 0u);
  // And a new task after that starts a thread again.
  pool.post([&] { ++finished; });
  waitFor(finished, 6);
}

TEST(ElasticPool, JoinRunsWhatIsQueuedThenRunsNewTasksInline) {
  std::atomic<int> finished{0};
  ElasticPool pool({.maxThreads = 1});
  for (int i = 0; i < 5; ++i) {
    pool.post([&] {
      std::this_thread::sleep_for(10ms);
      ++finished;
    });
  }
  pool.join();
  EXPECT_EQ(finished.load(), 5);
  auto caller = std::this_thread::get_id();
  std::thread::id ranOn;
  pool.post([&] {
    ranOn = std::this_thread::get_id();
    ++finished;
  });
  EXPECT_EQ(ranOn, caller);
  EXPECT_EQ(finished.load(), 6);
  EXPECT_EQ(pool.stats().threads, 0u);
}

TEST(ElasticPool, MoveOnlyTasksAndStackSize) {
  ElasticPool pool({.stackBytes = 512 * 1024});
  std::promise<size_t> stack;
  auto got = stack.get_future();
  pool.post([p = std::move(stack)]() mutable {
    pthread_attr_t attr;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      pthread_attr_getstacksize(&attr, &size);
      pthread_attr_destroy(&attr);
    }
    p.set_value(size);
  });
  ASSERT_EQ(got.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(got.get(), 512u * 1024);
}

TEST(ElasticPool, ZeroThreadsIsRefused) {
  EXPECT_THROW(ElasticPool({.maxThreads = 0}), std::invalid_argument);
}

}  // namespace
}  // namespace pp
