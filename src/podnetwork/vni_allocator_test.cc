#include "podnetwork/vni_allocator.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace pp::podnetwork {
namespace {

std::unique_ptr<VniAllocator> makeAllocator(uint32_t minId) {
  auto a = VniAllocator::create(minId);
  EXPECT_TRUE(a.has_value());
  return std::move(*a);
}

TEST(VniAllocatorTest, AllocatesFromMinIdUpwards) {
  auto a = makeAllocator(555000);
  EXPECT_EQ(*a->allocate(), 555000u);
  EXPECT_EQ(*a->allocate(), 555001u);
  EXPECT_TRUE(a->inUse(555000));
  EXPECT_EQ(a->inUseCount(), 2u);
}

TEST(VniAllocatorTest, RejectsMinIdBeyondTwentyFourBits) {
  auto a = VniAllocator::create(kMaxVni + 1);
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.error().code, Code::kInvalidArgument);
}

TEST(VniAllocatorTest, DoesNotReuseAReleasedVniBeforeTheRangeIsUsed) {
  auto a = makeAllocator(kMaxVni - 2);  // a range of three
  uint32_t first = *a->allocate();
  a->release(first);
  uint32_t second = *a->allocate();
  uint32_t third = *a->allocate();
  EXPECT_NE(second, first);
  EXPECT_NE(third, first);
  // The range wraps around and only then comes back to the released one.
  EXPECT_EQ(*a->allocate(), first);
  auto exhausted = a->allocate();
  ASSERT_FALSE(exhausted.has_value());
  EXPECT_EQ(exhausted.error().code, Code::kResourceExhausted);
  a->release(third);
  EXPECT_EQ(*a->allocate(), third);
}

TEST(VniAllocatorTest, ReservedVnisFromSavedStateAreSkipped) {
  auto a = makeAllocator(100);
  // After a restart the sandbox manager reloads two pods' VNIs.
  ASSERT_TRUE(a->reserve(100).has_value());
  ASSERT_TRUE(a->reserve(102).has_value());
  std::set<uint32_t> fresh{*a->allocate(), *a->allocate()};
  EXPECT_FALSE(fresh.contains(100));
  EXPECT_FALSE(fresh.contains(102));
  EXPECT_EQ(a->inUseCount(), 4u);
}

TEST(VniAllocatorTest, ReservingATakenVniIsAConflict) {
  auto a = makeAllocator(100);
  ASSERT_TRUE(a->reserve(5).has_value());  // below minId: still in use, still tracked
  auto again = a->reserve(5);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, Code::kAlreadyExists);
  uint32_t v = *a->allocate();
  EXPECT_EQ(a->reserve(v).error().code, Code::kAlreadyExists);
  EXPECT_EQ(a->reserve(kMaxVni + 1).error().code, Code::kInvalidArgument);
}

TEST(VniAllocatorTest, ReleaseIsIdempotent) {
  auto a = makeAllocator(7);
  uint32_t v = *a->allocate();
  a->release(v);
  a->release(v);
  a->release(12345);
  EXPECT_EQ(a->inUseCount(), 0u);
}

TEST(VniAllocatorTest, ConcurrentAllocationsAreUnique) {
  auto a = makeAllocator(555000);
  constexpr int kThreads = 8, kEach = 500;
  std::vector<std::vector<uint32_t>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        uint32_t v = *a->allocate();
        got[t].push_back(v);
        if (i % 3 == 0) a->release(v);  // churn: released VNIs must not come back as duplicates
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint32_t> all;
  size_t total = 0;
  for (const auto& g : got) {
    all.insert(g.begin(), g.end());
    total += g.size();
  }
  EXPECT_EQ(all.size(), total);
}

}  // namespace
}  // namespace pp::podnetwork
