#include <asio/use_awaitable.hpp>

#include "base/log.h"
#include "forwarder/forwarder.h"

namespace pp::forwarder {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
constexpr char kLog[] = "forwarder";
constexpr char kAgentService[] = "grpc.AgentService";

ttrpc::RedialerOptions agentOptions(const ForwarderOptions& o) {
  ttrpc::RedialerOptions r;
  r.peer = "kata-agent at " + o.agentSocket;
  r.logComponent = kLog;
  r.initialBackoff = 100ms;
  r.maxBackoff = 5s;
  // A unix socket answers at once: one more try when the wait reaches the deadline.
  r.attemptAtDeadline = true;
  r.giveUpCode = Code::kUnavailable;
  r.shutdownMessage = "agent-protocol-forwarder is shutting down";
  return r;
}

// The calls edit() changes or logs; every other call is relayed as it came.
constexpr const char* kEditedOrLogged[] = {"CreateSandbox", "CreateContainer", "StartContainer",
                                           "RemoveContainer", "DestroySandbox"};

// peerpods_forwarder_calls_total, by the answer's code.
void countCall(Code code) {
  static auto& calls = metrics::global().counter(
      "peerpods_forwarder_calls_total",
      "Agent calls relayed to the kata-agent, by result (ok or the error code).", {"result"});
  // The "ok" series looked up once: with() builds its key and takes a lock (bench/chain).
  static auto& okCalls = calls.with({"ok"});
  if (code == Code::kOk) {
    okCalls.inc();
    return;
  }
  std::string label(codeName(code));
  for (auto& c : label) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  calls.with({label}).inc();
}

}  // namespace

std::shared_ptr<AgentForwarder> AgentForwarder::create(asio::any_io_executor ex,
                                                       ForwarderOptions options) {
  std::shared_ptr<AgentForwarder> f(new AgentForwarder(std::move(ex), std::move(options)));
  // The calls edit() changes or logs are decoded; every other call is passed on as bytes while
  // the agent's connection is up (ttrpc::Route: no decoding, no coroutine per call), and goes
  // through the fallback, which dials, when it is not. Calls we do not know are relayed like
  // the others. Held weakly: connections may outlive a shutdown.
  std::weak_ptr<AgentForwarder> weak = f;
  for (const char* method : kEditedOrLogged) {
    f->server_.addMethod(kAgentService, method,
                         [weak](const ttrpc::CallContext& ctx, std::string payload) {
                           return handle(weak, ctx, std::move(payload), true);
                         });
  }
  f->server_.setFallback([weak](const ttrpc::CallContext& ctx, std::string payload) {
    return handle(weak, ctx, std::move(payload), false);
  });
  f->server_.setRoute(
      ttrpc::Route{.next = [weak](std::string_view, std::string_view) -> ttrpc::Client* {
                     auto self = weak.lock();
                     return self && !self->stopped_ ? self->agent_.connected() : nullptr;
                   },
                   .answered = countCall});
  return f;
}

AgentForwarder::AgentForwarder(asio::any_io_executor ex, ForwarderOptions options)
    : ex_(std::move(ex)),
      options_(std::move(options)),
      server_(options_.server),
      agent_(ex_, agentOptions(options_),
             [this](Clock::time_point) { return ttrpc::connectUnix(ex_, options_.agentSocket); }) {}

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
  agent_.shutdown();
}

asio::awaitable<Result<std::string>> AgentForwarder::handle(std::weak_ptr<AgentForwarder> weak,
                                                            const ttrpc::CallContext& ctx,
                                                            std::string payload, bool editOrLog) {
  auto self = weak.lock();
  if (!self || self->stopped_)
    co_return fail(Code::kUnavailable, "agent-protocol-forwarder is shutting down");
  if (editOrLog) {
    // Separate statements: GCC 12 mishandles by-value arguments created inside a co_await.
    auto editing = self->edit(ctx, std::move(payload));
    auto edited = co_await std::move(editing);
    if (!edited) co_return fail(edited.error());
    payload = std::move(*edited);
  }
  auto relaying = self->agent_.relay(ctx, std::move(payload), self->options_.agentDialTimeout);
  auto result = co_await std::move(relaying);
  countCall(result ? Code::kOk : result.error().code);
  co_return result;
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

}  // namespace pp::forwarder
