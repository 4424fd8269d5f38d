// The shared, lazily dialled connection: one dial for many callers, capped backoff, waiters'
// deadlines, shutdown, cancellation. The peer is a scripted dial function handing out one end
// of a socket pair.
#include "ttrpc/redialer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <optional>
#include <vector>

namespace pp::ttrpc {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ClientResult = Result<std::shared_ptr<Client>>;

constexpr char kPeer[] = "the test peer at nowhere";

// Dials that take `dialTime` each and fail `failFirst` times, then connect.
class ScriptedPeer {
 public:
  explicit ScriptedPeer(asio::io_context& ctx) : ctx_(ctx) {}

  asio::awaitable<Result<std::unique_ptr<ByteStream>>> dial(Clock::time_point) {
    const int n = ++dials;
    attempts.push_back(Clock::now());
    if (dialTime > 0ms) {
      asio::steady_timer t(ctx_, dialTime);
      co_await t.async_wait(asio::use_awaitable);
    }
    if (n <= failFirst) co_return fail(Code::kUnavailable, "refused #" + std::to_string(n));
    asio::local::stream_protocol::socket ours(ctx_), theirs(ctx_);
    asio::local::connect_pair(ours, theirs);
    peerEnds_.push_back(std::move(theirs));
    co_return wrapUnix(std::move(ours), "pair");
  }

  void closeAll() {
    for (auto& s : peerEnds_) s.close();
  }

  int dials = 0;
  int failFirst = 0;
  std::chrono::milliseconds dialTime{0};
  std::vector<Clock::time_point> attempts;

 private:
  asio::io_context& ctx_;
  std::vector<asio::local::stream_protocol::socket> peerEnds_;
};

class RedialerTest : public ::testing::Test {
 protected:
  void make(RedialerOptions options) {
    options.peer = kPeer;
    options.shutdownMessage = "test redialer is shut down";
    redialer_.emplace(ctx_.get_executor(), std::move(options),
                      [this](Clock::time_point deadline) { return peer_.dial(deadline); });
  }

  // Starts get(now + timeout) and returns where its result will be.
  std::shared_ptr<std::optional<ClientResult>> get(Clock::duration timeout) {
    auto out = std::make_shared<std::optional<ClientResult>>();
    asio::co_spawn(
        ctx_,
        [this, out, timeout]() -> asio::awaitable<void> {
          auto r = co_await redialer_->get(Clock::now() + timeout);
          out->emplace(std::move(r));
        },
        asio::detached);
    return out;
  }

  // Runs the io_context until `done` or 10 s.
  template <typename Pred>
  void runUntil(Pred done) {
    auto until = Clock::now() + 10s;
    while (!done() && Clock::now() < until) {
      if (ctx_.stopped()) ctx_.restart();  // it stops whenever it runs out of work
      ctx_.run_one_for(10ms);
    }
    ASSERT_TRUE(done()) << "timed out";
  }

  // `n` concurrent get(now + timeout) calls, run to their end: the clients they got (null for
  // a failure, which fails the test).
  std::vector<std::shared_ptr<Client>> getConcurrently(int n, Clock::duration timeout) {
    std::vector<std::shared_ptr<std::optional<ClientResult>>> results;
    for (int i = 0; i < n; ++i) results.push_back(get(timeout));
    runUntil([&] { return std::ranges::all_of(results, [](auto& r) { return r->has_value(); }); });
    std::vector<std::shared_ptr<Client>> clients;
    for (auto& r : results) {
      const bool ok = r->has_value() && **r;
      EXPECT_TRUE(ok) << (r->has_value() ? (*r)->error().message : "no result");
      clients.push_back(ok ? ***r : nullptr);
    }
    return clients;
  }

  void TearDown() override {
    if (redialer_) redialer_->shutdown();
    peer_.closeAll();
    ctx_.restart();
    ctx_.run_for(1s);
  }

  asio::io_context ctx_;
  ScriptedPeer peer_{ctx_};
  std::optional<Redialer> redialer_;
};

TEST_F(RedialerTest, ConcurrentCallersCauseOneDial) {
  make({});
  peer_.dialTime = 50ms;
  auto clients = getConcurrently(5, 5s);
  EXPECT_EQ(peer_.dials, 1);
  EXPECT_EQ(redialer_->connects(), 1);
  ASSERT_NE(clients[0], nullptr);
  for (auto& c : clients) EXPECT_EQ(c, clients[0]);
  // Connected: later calls take the same connection without dialling.
  EXPECT_EQ(getConcurrently(1, 1s)[0], clients[0]);
  EXPECT_EQ(peer_.dials, 1);
}

TEST_F(RedialerTest, BackoffGrowsAndIsCapped) {
  make({.initialBackoff = 20ms, .maxBackoff = 80ms});
  peer_.failFirst = 6;
  auto r = get(10s);
  runUntil([&] { return r->has_value(); });
  ASSERT_TRUE(**r) << (*r)->error().message;
  ASSERT_EQ(peer_.dials, 7);
  const std::chrono::milliseconds expected[] = {20ms, 40ms, 80ms, 80ms, 80ms, 80ms};
  for (size_t i = 0; i + 1 < peer_.attempts.size(); ++i) {
    auto gap = peer_.attempts[i + 1] - peer_.attempts[i];
    EXPECT_GE(gap, expected[i]) << "wait " << i;
    // Uncapped, the last waits would be 320 and 640 ms.
    if (i >= 3) {
      EXPECT_LT(gap, 300ms) << "wait " << i;
    }
  }
}

TEST_F(RedialerTest, JitterIsAddedBelowItsBound) {
  make({.initialBackoff = 10ms, .maxBackoff = 10ms, .maxJitter = 30ms});
  peer_.failFirst = 8;
  auto r = get(10s);
  runUntil([&] { return r->has_value(); });
  ASSERT_TRUE(**r) << (*r)->error().message;
  for (size_t i = 0; i + 1 < peer_.attempts.size(); ++i) {
    EXPECT_GE(peer_.attempts[i + 1] - peer_.attempts[i], 10ms) << "wait " << i;
  }
  // Eight waits of at most 40 ms, with room for a busy machine.
  EXPECT_LT(peer_.attempts.back() - peer_.attempts.front(), 2s);
}

TEST_F(RedialerTest, WaitersDeadlineExpiresWithAClearError) {
  make({});
  peer_.dialTime = 500ms;
  auto dialler = get(10s);
  ctx_.poll();  // the first call is dialling
  const auto start = Clock::now();
  auto waiter = get(50ms);
  runUntil([&] { return waiter->has_value(); });
  ASSERT_FALSE(**waiter);
  EXPECT_EQ((*waiter)->error().code, Code::kDeadlineExceeded);
  EXPECT_EQ((*waiter)->error().message, std::string("waiting for ") + kPeer);
  EXPECT_LT(Clock::now() - start, 400ms);
  // The dial goes on for its own caller.
  runUntil([&] { return dialler->has_value(); });
  EXPECT_TRUE(**dialler);
  EXPECT_EQ(peer_.dials, 1);
}

TEST_F(RedialerTest, DiallerGivesUpAtItsDeadlineNamingThePeerAndTheLastError) {
  make({.initialBackoff = 20ms, .maxBackoff = 20ms, .giveUpCode = Code::kUnavailable});
  peer_.failFirst = 1000;
  const auto start = Clock::now();
  auto r = get(200ms);
  runUntil([&] { return r->has_value(); });
  ASSERT_FALSE(**r);
  EXPECT_EQ((*r)->error().code, Code::kUnavailable);
  const std::string want = std::string("cannot reach ") + kPeer + " after " +
                           std::to_string(peer_.dials) + " attempts: refused #" +
                           std::to_string(peer_.dials);
  EXPECT_EQ((*r)->error().message, want);
  EXPECT_GE(Clock::now() - start, 200ms);
  EXPECT_LT(Clock::now() - start, 2s);
}

TEST_F(RedialerTest, AttemptAtDeadlineDecidesWhetherALateCallDials) {
  make({});
  peer_.failFirst = 1000;
  auto late = get(-1ms);
  runUntil([&] { return late->has_value(); });
  ASSERT_FALSE(**late);
  EXPECT_EQ((*late)->error().code, Code::kDeadlineExceeded);
  EXPECT_EQ(peer_.dials, 0);

  make({.attemptAtDeadline = true});
  peer_.failFirst = 0;
  auto tried = get(-1ms);
  runUntil([&] { return tried->has_value(); });
  EXPECT_TRUE(**tried);
  EXPECT_EQ(peer_.dials, 1);
}

TEST_F(RedialerTest, ShutdownWakesWaitersAndTheBackoff) {
  make({.initialBackoff = 10s, .maxBackoff = 10s});
  peer_.failFirst = 1000;
  auto dialler = get(60s);
  auto waiter = get(60s);
  runUntil([&] { return peer_.dials == 1; });
  ctx_.run_for(20ms);  // the dialler is in its 10 s backoff, the waiter waits for it
  const auto start = Clock::now();
  redialer_->shutdown();
  runUntil([&] { return dialler->has_value() && waiter->has_value(); });
  EXPECT_LT(Clock::now() - start, 1s);
  for (auto* r : {dialler.get(), waiter.get()}) {
    ASSERT_FALSE(**r);
    EXPECT_EQ((*r)->error().code, Code::kUnavailable);
    EXPECT_EQ((*r)->error().message, "test redialer is shut down");
  }
  auto after = get(60s);
  runUntil([&] { return after->has_value(); });
  EXPECT_FALSE(**after);
  EXPECT_EQ(peer_.dials, 1);
}

TEST_F(RedialerTest, ADialSucceedingAfterFailuresServesEveryone) {
  make({.initialBackoff = 10ms, .maxBackoff = 20ms});
  peer_.failFirst = 3;
  auto clients = getConcurrently(4, 10s);
  EXPECT_EQ(peer_.dials, 4);
  EXPECT_EQ(redialer_->connects(), 1);
  ASSERT_NE(clients[0], nullptr);
  for (auto& c : clients) EXPECT_EQ(c, clients[0]);
}

TEST_F(RedialerTest, ALostConnectionIsRedialledByTheNextCall) {
  make({});
  auto first = getConcurrently(1, 5s)[0];
  ASSERT_NE(first, nullptr);
  first->close();
  auto second = getConcurrently(1, 5s)[0];
  ASSERT_NE(second, nullptr);
  EXPECT_NE(second, first);
  EXPECT_EQ(redialer_->connects(), 2);
}

TEST_F(RedialerTest, ACallCancelledWhileDiallingLeavesTheDialToAWaiter) {
  make({.initialBackoff = 10ms, .maxBackoff = 10ms});
  peer_.dialTime = 100ms;
  peer_.failFirst = 1;
  // The first caller goes away (its call is cancelled) in the middle of its first dial.
  auto cancelled = std::make_shared<bool>(false);
  asio::co_spawn(
      ctx_,
      [this, cancelled]() -> asio::awaitable<void> {
        using namespace asio::experimental::awaitable_operators;
        asio::steady_timer giveUp(ctx_, 30ms);
        auto r =
            co_await (redialer_->get(Clock::now() + 60s) || giveUp.async_wait(asio::use_awaitable));
        *cancelled = r.index() == 1;
      },
      asio::detached);
  ctx_.poll();
  auto waiter = get(10s);
  runUntil([&] { return waiter->has_value(); });
  EXPECT_TRUE(*cancelled);
  ASSERT_TRUE(**waiter) << (*waiter)->error().message;
  EXPECT_EQ(redialer_->connects(), 1);
}

}  // namespace
}  // namespace pp::ttrpc
