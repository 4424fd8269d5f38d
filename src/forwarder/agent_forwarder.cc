#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include "base/log.h"
#include "base/scope_exit.h"
#include "forwarder/forwarder.h"

namespace pp::forwarder {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
constexpr auto kUse = asio::experimental::as_tuple(asio::use_awaitable);
constexpr char kLog[] = "forwarder";
constexpr char kAgentService[] = "grpc.AgentService";

}  // namespace

std::shared_ptr<AgentForwarder> AgentForwarder::create(asio::any_io_executor ex,
                                                       ForwarderOptions options) {
  std::shared_ptr<AgentForwarder> f(new AgentForwarder(std::move(ex), std::move(options)));
  // Every call goes through the fallback: routing by name happens in edit(), and calls we do
  // not know are relayed like the others. Held weakly: connections may outlive a shutdown.
  std::weak_ptr<AgentForwarder> weak = f;
  f->server_.setFallback([weak](const ttrpc::CallContext& ctx, std::string payload) {
    return handle(weak, ctx, std::move(payload));
  });
  return f;
}

AgentForwarder::AgentForwarder(asio::any_io_executor ex, ForwarderOptions options)
    : ex_(std::move(ex)), options_(std::move(options)), server_(options_.server) {}

AgentForwarder::~AgentForwarder() = default;

Status AgentForwarder::listen(const std::string& host, uint16_t port,
                              std::shared_ptr<asio::ssl::context> tls) {
  std::weak_ptr<AgentForwarder> weak = weak_from_this();
  auto l = ttrpc::listenTcp(
      ex_, host, port, std::move(tls),
      [weak](std::unique_ptr<ttrpc::ByteStream> s) {
        if (auto f = weak.lock(); f && !f->stopped_) f->server_.serveConnection(std::move(s));
      },
      options_.listen);
  if (!l) return fail(l.error());
  listener_ = std::move(*l);
  return {};
}

uint16_t AgentForwarder::port() const {
  return listener_ ? listener_->port() : 0;
}

void AgentForwarder::shutdown() {
  stopped_ = true;
  if (listener_) listener_->close();
  listener_.reset();
  server_.shutdown();
  if (client_) client_->close();
  client_.reset();
  for (auto* w : dialWaiters_) w->cancel();
}

asio::awaitable<Result<std::string>> AgentForwarder::handle(std::weak_ptr<AgentForwarder> weak,
                                                            const ttrpc::CallContext& ctx,
                                                            std::string payload) {
  auto self = weak.lock();
  if (!self || self->stopped_)
    co_return fail(Code::kUnavailable, "agent-protocol-forwarder is shutting down");
  // Separate statements: GCC 12 mishandles by-value arguments created inside a co_await.
  auto editing = self->edit(ctx, std::move(payload));
  auto edited = co_await std::move(editing);
  if (!edited) co_return fail(edited.error());
  auto relaying = self->relay(ctx, std::move(*edited));
  co_return co_await std::move(relaying);
}

asio::awaitable<Result<std::string>> AgentForwarder::edit(const ttrpc::CallContext& ctx,
                                                          std::string payload) {
  auto self = shared_from_this();
  if (ctx.service != kAgentService) co_return payload;
  if (ctx.method == "CreateSandbox") {
    log::info(kLog, "CreateSandbox");
    co_return editCreateSandbox(payload);
  }
  if (ctx.method == "CreateContainer") {
    auto edit = editCreateContainer(payload, options_.podNamespace);
    if (!edit) co_return fail(edit.error());
    log::info(kLog, "CreateContainer {}: network namespace {}", edit->containerId,
              options_.podNamespace);
    if (auto st = createBindSources(edit->bindSources); !st) co_return fail(st.error());
    if (!edit->waitTargets.empty()) {
      auto deadline = Clock::now() + options_.mountWaitTimeout;
      if (ctx.deadline) deadline = std::min(deadline, *ctx.deadline);
      log::info(kLog, "CreateContainer {}: waiting for {} volume(s) to be mounted",
                edit->containerId, edit->waitTargets.size());
      auto st = co_await waitForMounts(edit->waitTargets, deadline, options_.mountinfoPath);
      if (!st) co_return fail(st.error().wrap("CreateContainer " + edit->containerId));
    }
    co_return std::move(edit->payload);
  }
  if (ctx.method == "StartContainer" || ctx.method == "RemoveContainer" ||
      ctx.method == "DestroySandbox") {
    log::info(kLog, "{}", ctx.method);
  }
  co_return payload;
}

asio::awaitable<Result<std::shared_ptr<ttrpc::Client>>> AgentForwarder::agent(
    Clock::time_point deadline) {
  auto self = shared_from_this();
  while (true) {
    if (stopped_) co_return fail(Code::kUnavailable, "agent-protocol-forwarder is shutting down");
    if (client_ && !client_->closed()) co_return client_;
    if (!dialing_) break;
    // Another call is dialling: wait for it, or for our own deadline.
    asio::steady_timer wait(ex_, deadline);
    dialWaiters_.push_back(&wait);
    // A call is cancelled at a co_await when its client goes away: leave no dangling waiter.
    ScopeExit unlist([&] { std::erase(dialWaiters_, &wait); });
    auto [ec] = co_await wait.async_wait(kUse);
    if (!ec && Clock::now() >= deadline) {
      co_return fail(Code::kDeadlineExceeded, "waiting for kata-agent at " + options_.agentSocket);
    }
  }
  if (client_) log::info(kLog, "connection to kata-agent lost, reconnecting");
  client_.reset();
  dialing_ = true;
  // Also when this call is cancelled mid-dial: a waiter then dials instead.
  ScopeExit dialed([&] {
    dialing_ = false;
    for (auto* w : dialWaiters_) w->cancel();
  });
  auto backoff = 100ms;
  int attempts = 0;
  Result<std::shared_ptr<ttrpc::Client>> result = fail(Code::kUnavailable, "not dialled");
  while (!stopped_) {
    ++attempts;
    auto connecting = ttrpc::connectUnix(ex_, options_.agentSocket);
    auto stream = co_await std::move(connecting);
    if (stream) {
      client_ = ttrpc::Client::create(std::move(*stream));
      ++connects_;
      log::info(kLog, "connected to kata-agent at {} (attempt {})", options_.agentSocket, attempts);
      result = client_;
      break;
    }
    lastDialError_ = stream.error().message;
    log::debug(kLog, "kata-agent dial attempt {} failed: {}", attempts, lastDialError_);
    auto now = Clock::now();
    if (now >= deadline) {
      result = fail(Code::kUnavailable, "cannot reach kata-agent at " + options_.agentSocket +
                                            " after " + std::to_string(attempts) +
                                            " attempts: " + lastDialError_);
      break;
    }
    asio::steady_timer t(ex_, std::min<Clock::duration>(backoff, deadline - now));
    co_await t.async_wait(kUse);
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, 5s);
  }
  if (stopped_ && result)
    result = fail(Code::kUnavailable, "agent-protocol-forwarder is shutting down");
  co_return result;
}

asio::awaitable<Result<std::string>> AgentForwarder::relay(const ttrpc::CallContext& ctx,
                                                           std::string payload) {
  auto self = shared_from_this();
  auto deadline = Clock::now() + options_.agentDialTimeout;
  if (ctx.deadline) deadline = std::min(deadline, *ctx.deadline);
  auto client = co_await agent(deadline);
  if (!client) co_return fail(client.error());
  ttrpc::CallOptions opts;
  opts.deadline = ctx.deadline;
  opts.metadata = ctx.metadata;
  co_return co_await (*client)->call(ctx.service, ctx.method, payload, opts);
}

}  // namespace pp::forwarder
