#include "ttrpc/redialer.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include "base/log.h"
#include "base/scope_exit.h"

namespace pp::ttrpc {
namespace {

constexpr auto kUse = asio::experimental::as_tuple(asio::use_awaitable);

}  // namespace

Redialer::Redialer(asio::any_io_executor ex, RedialerOptions options, DialFn dial)
    : ex_(std::move(ex)), options_(std::move(options)), dial_(std::move(dial)) {}

Redialer::~Redialer() = default;

void Redialer::logLine(bool debug, const std::string& message) const {
  const log::Level level = debug ? log::Level::kDebug : log::Level::kInfo;
  if (log::level() > level) return;
  if (options_.sandboxId.empty()) {
    log::write(level, options_.logComponent, message);
  } else {
    log::write(level, options_.logComponent, log::Sandbox(options_.sandboxId), message);
  }
}

Error Redialer::giveUp(int attempts) const {
  return Error{options_.giveUpCode, "cannot reach " + options_.peer + " after " +
                                        std::to_string(attempts) + " attempts: " + lastError_};
}

void Redialer::shutdown() {
  stopped_ = true;
  if (client_) client_->close();
  client_.reset();
  for (auto* w : waiters_) w->cancel();
  if (backoff_) backoff_->cancel();
}

asio::awaitable<Result<std::shared_ptr<Client>>> Redialer::get(Clock::time_point deadline) {
  while (true) {
    if (stopped_) co_return fail(Code::kUnavailable, options_.shutdownMessage);
    if (client_ && !client_->closed()) co_return client_;
    if (!dialing_) break;
    // Another call is dialling: wait for it, or for our own deadline.
    asio::steady_timer wait(ex_, deadline);
    waiters_.push_back(&wait);
    // A call is cancelled at a co_await when its client goes away: leave no dangling waiter.
    ScopeExit unlist([&] { std::erase(waiters_, &wait); });
    auto [ec] = co_await wait.async_wait(kUse);
    if (!ec && Clock::now() >= deadline) {
      co_return fail(Code::kDeadlineExceeded, "waiting for " + options_.peer);
    }
  }
  if (client_) logLine(false, "connection to " + options_.peer + " lost, reconnecting");
  client_.reset();
  dialing_ = true;
  // Also when this call is cancelled mid-dial: a waiter then dials instead.
  ScopeExit dialed([&] {
    dialing_ = false;
    backoff_ = nullptr;
    for (auto* w : waiters_) w->cancel();
  });
  auto backoff = options_.initialBackoff;
  int attempts = 0;
  while (!stopped_) {
    if (!options_.attemptAtDeadline && Clock::now() >= deadline) co_return fail(giveUp(attempts));
    ++attempts;
    auto dialing = dial_(deadline);
    auto stream = co_await std::move(dialing);
    if (stopped_) break;
    if (stream) {
      client_ = Client::create(std::move(*stream));
      ++connects_;
      logLine(false,
              "connected to " + options_.peer + " (attempt " + std::to_string(attempts) + ")");
      co_return client_;
    }
    lastError_ = stream.error().message;
    logLine(true, "dial attempt " + std::to_string(attempts) + " to " + options_.peer +
                      " failed: " + lastError_);
    const auto now = Clock::now();
    if (now >= deadline) co_return fail(giveUp(attempts));
    Clock::duration pause = backoff;
    if (options_.maxJitter.count() > 0) {
      pause += std::chrono::milliseconds(rng_() % options_.maxJitter.count());
    }
    asio::steady_timer timer(ex_, std::min<Clock::duration>(pause, deadline - now));
    backoff_ = &timer;
    co_await timer.async_wait(kUse);
    backoff_ = nullptr;
    backoff = std::min(backoff * 2, options_.maxBackoff);
  }
  // Shut down while dialling (a stream made meanwhile was closed as it went out of scope).
  co_return fail(Code::kUnavailable, options_.shutdownMessage);
}

asio::awaitable<Result<std::string>> Redialer::relay(const CallContext& ctx, std::string payload,
                                                     Clock::duration maxDialWait) {
  CallOptions opts;
  opts.deadline = ctx.deadline;
  opts.metadata = ctx.metadata;
  // The usual case, the connection is up: no get() coroutine (a frame per call, bench/chain).
  if (!stopped_ && client_ && !client_->closed()) {
    auto client = client_;  // the call keeps it, whatever happens to client_ meanwhile
    co_return co_await client->call(ctx.service, ctx.method, payload, opts);
  }
  auto deadline = Clock::now() + maxDialWait;
  if (ctx.deadline) deadline = std::min(deadline, *ctx.deadline);
  auto client = co_await get(deadline);
  if (!client) co_return fail(client.error());
  co_return co_await (*client)->call(ctx.service, ctx.method, payload, opts);
}

}  // namespace pp::ttrpc
