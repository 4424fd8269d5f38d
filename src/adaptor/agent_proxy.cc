#include "adaptor/agent_proxy.h"

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <filesystem>

#include "base/log.h"
#include "base/metrics.h"

namespace pp::adaptor {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

}  // namespace

std::shared_ptr<AgentProxy> AgentProxy::create(asio::any_io_executor ex,
                                               AgentProxyOptions options) {
  std::shared_ptr<AgentProxy> p(new AgentProxy(std::move(ex), std::move(options)));
  // Handlers hold the proxy weakly: the shim's connections may outlive a shut-down proxy.
  std::weak_ptr<AgentProxy> weak = p;
  p->server_.setFallback([weak](const ttrpc::CallContext& ctx, std::string payload) {
    return relayWeak(weak, ctx, std::move(payload), false);
  });
  p->server_.addMethod("grpc.AgentService", "CreateContainer",
                       [weak](const ttrpc::CallContext& ctx, std::string payload) {
                         return relayWeak(weak, ctx, std::move(payload), true);
                       });
  // Every other call goes to the forwarder as bytes while the connection is up (no decoding,
  // no coroutine per call: bench/chain); the fallback above dials when it is not.
  p->server_.setRoute(
      ttrpc::Route{.next = [weak](std::string_view, std::string_view) -> ttrpc::Client* {
                     auto self = weak.lock();
                     return self && !self->stopped_ ? self->upstream_.connected() : nullptr;
                   },
                   .answered = {}});
  return p;
}

asio::awaitable<Result<std::string>> AgentProxy::relayWeak(std::weak_ptr<AgentProxy> weak,
                                                           const ttrpc::CallContext& ctx,
                                                           std::string payload,
                                                           bool createContainer) {
  auto self = weak.lock();
  if (!self || self->stopped_) co_return fail(Code::kUnavailable, "agent proxy is shut down");
  if (createContainer) {
    auto edited =
        editCreateContainer(payload, self->options_.directVolumesDir, self->options_.sandboxId);
    if (!edited) co_return fail(edited.error());
    payload = std::move(*edited);
  }
  co_return co_await self->upstream_.relay(ctx, std::move(payload), self->options_.proxyTimeout);
}

namespace {

ttrpc::RedialerOptions upstreamOptions(const AgentProxyOptions& o) {
  ttrpc::RedialerOptions r;
  r.peer = "the pod VM's agent-protocol-forwarder at " + o.vmHost + ":" + std::to_string(o.vmPort);
  r.logComponent = "proxy";
  r.sandboxId = o.sandboxId;
  // A refused dial costs one round trip, so while the VM boots the proxy probes at a short,
  // nearly fixed interval: the time between the forwarder starting to listen and our first
  // connection is at most one pause (pod start time). A doubling pause (it was 50 ms up to
  // 500 ms) cost on average half the last pause, 100-250 ms per pod when ten containers boot at
  // once. A VM that does not answer at all is bounded by the dial's own timeout, not by this
  // pause. Reconnects back off more (see dial).
  r.initialBackoff = 10ms;
  r.maxBackoff = 20ms;
  r.maxJitter = 5ms;
  r.giveUpCode = Code::kDeadlineExceeded;
  r.shutdownMessage = "agent proxy is shut down";
  return r;
}

}  // namespace

AgentProxy::AgentProxy(asio::any_io_executor ex, AgentProxyOptions options)
    : ex_(std::move(ex)),
      options_(std::move(options)),
      upstream_(ex_, upstreamOptions(options_),
                [this](Clock::time_point deadline) { return dial(deadline); }),
      reconnectTimer_(ex_) {}

asio::awaitable<Result<std::unique_ptr<ttrpc::ByteStream>>> AgentProxy::dial(
    Clock::time_point deadline) {
  if (connectedBefore_ && reconnectPause_.count() > 0) {
    // A lost connection's redials: 50 ms doubling up to 2 s on top of the boot pace above, so
    // that many sandboxes whose forwarders went away do not keep the node busy with dials.
    reconnectTimer_.expires_after(std::min<Clock::duration>(
        reconnectPause_, std::max<Clock::duration>(deadline - Clock::now(), {})));
    co_await reconnectTimer_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (stopped_) co_return fail(Code::kUnavailable, "agent proxy is shut down");
  }
  // Each attempt has the time left, at most 30 s.
  ttrpc::TcpTarget target{options_.vmHost, options_.vmPort, options_.tls, options_.serverName,
                          std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::min<Clock::duration>(deadline - Clock::now(), 30s))};
  const auto started = Clock::now();
  if (!connectedBefore_) {
    if (dials_++ == 0) firstDialAt_ = started;
    lastDialAt_ = started;
  }
  auto stream = co_await ttrpc::connectTcp(ex_, target);
  if (!stream && !connectedBefore_) lastFailedAt_ = Clock::now();
  if (!stream && connectedBefore_)
    reconnectPause_ = std::clamp<std::chrono::milliseconds>(reconnectPause_ * 2, 50ms, 2000ms);
  if (stream) {
    reconnectPause_ = {};
    // Every connection after the first is a reconnect (the VM's link or forwarder came back).
    static auto& reconnects = metrics::global().counter(
        "peerpods_adaptor_agent_reconnects_total",
        "Connections to a pod VM's forwarder made again after the first one.");
    if (connectedBefore_.exchange(true)) reconnects.with().inc();
  }
  co_return stream;
}

AgentProxy::~AgentProxy() = default;

asio::awaitable<Status> AgentProxy::listenCo() {
  if (listener_) co_return Status{};
  auto self = shared_from_this();
  auto l = ttrpc::listenUnix(ex_, options_.socketPath,
                             [weak = weak_from_this()](std::unique_ptr<ttrpc::ByteStream> s) {
                               if (auto p = weak.lock(); p && !p->stopped_)
                                 p->server_.serveConnection(std::move(s));
                             });
  if (!l) co_return fail(l.error());
  listener_ = std::move(*l);
  co_return Status{};
}

asio::awaitable<Status> AgentProxy::startCo(Clock::time_point readyBy) {
  auto self = shared_from_this();
  log::debug("proxy", "sandbox {}: listening on {}", options_.sandboxId, options_.socketPath);
  if (auto st = co_await listenCo(); !st) co_return st;
  log::debug("proxy", "sandbox {}: dialling {}:{}", options_.sandboxId, options_.vmHost,
             options_.vmPort);
  auto deadline = std::min(readyBy, Clock::now() + options_.proxyTimeout);
  auto c = co_await upstream_.get(deadline);
  if (!c) co_return fail(c.error());
  if (dials_ > 0) {
    // bench/podstart reads this line: the pause before the dial that connected is the
    // adaptor's share of the wait (the forwarder may have listened during it); the rest is the
    // guest's boot and its TCP/TLS answer.
    auto ms = [](Clock::duration d) {
      return std::chrono::duration<double, std::milli>(d).count();
    };
    const double paused = dials_ > 1 ? ms(lastDialAt_ - lastFailedAt_) : 0.0;
    log::info("proxy", log::Sandbox(options_.sandboxId),
              "forwarder reached after {} dial(s) in {:.0f} ms; pause before the connecting "
              "dial {:.0f} ms, the connecting dial (TCP and TLS) {:.0f} ms",
              dials_, ms(Clock::now() - firstDialAt_), paused, ms(Clock::now() - lastDialAt_));
  }
  co_return Status{};
}

std::future<Status> AgentProxy::start(Clock::time_point readyBy) {
  return asio::co_spawn(ex_, startCo(readyBy), asio::use_future);
}

std::future<Status> AgentProxy::listenOnly() {
  return asio::co_spawn(
      ex_, [self = shared_from_this()]() { return self->listenCo(); }, asio::use_future);
}

void AgentProxy::shutdown() {
  auto done = asio::co_spawn(
      ex_,
      [self = shared_from_this()]() -> asio::awaitable<void> {
        self->stopped_ = true;
        self->reconnectTimer_.cancel();
        if (self->listener_) self->listener_->close();
        self->listener_.reset();
        self->server_.shutdown();
        self->upstream_.shutdown();
        std::error_code ec;
        std::filesystem::remove(self->options_.socketPath, ec);
        co_return;
      },
      asio::use_future);
  done.wait();
}

}  // namespace pp::adaptor
