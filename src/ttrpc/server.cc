#include "ttrpc/server.h"

#include <google/protobuf/stubs/logging.h>

#include <algorithm>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "base/log.h"
#include "ttrpc/channel.h"
#include "ttrpc/client.h"
#include "ttrpc/envelope.h"
#include "ttrpc/peek.h"
#include "ttrpc/request.pb.h"

namespace pp::ttrpc {

namespace {
constexpr size_t kStreamInboxLimit = 64;
constexpr auto kUse = asio::experimental::as_tuple(asio::use_awaitable);

// now + timeout_nano, saturated: a client may send any int64 and a deadline must not wrap
// into the past.
std::chrono::steady_clock::time_point deadlineAfter(int64_t timeoutNano) {
  using Clock = std::chrono::steady_clock;
  auto now = Clock::now();
  auto timeout = std::chrono::nanoseconds(timeoutNano);
  if (timeout >= Clock::time_point::max() - now) return Clock::time_point::max();
  return now + std::chrono::duration_cast<Clock::duration>(timeout);
}
}  // namespace

class ServerConnection;

// What cancels one call's handler: its coroutine is spawned with this signal's slot, so
// emitting it cancels the operation the handler waits for (asio's per-operation cancellation)
// when the call's deadline passes or, with cancelOnDisconnect, when the connection closes. A
// signal and at most one timer per call: racing the handler against timers with awaitable
// operators cost four more coroutines and two parallel groups per call (bench/chain).
struct CallCancel {
  explicit CallCancel(asio::any_io_executor ex) : deadline(std::move(ex)) {}
  void cancel(Code why) {
    if (reason != Code::kOk) return;
    reason = why;
    signal.emit(asio::cancellation_type::terminal);
  }
  asio::cancellation_signal signal;
  asio::steady_timer deadline;
  Code reason = Code::kOk;  // why the handler was cancelled: DEADLINE_EXCEEDED or UNAVAILABLE
};

// Orders (service, method) pairs of strings or string views alike, so that a call's names can be
// looked up as views into its request without copying them.
struct MethodLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    if (int c = std::string_view(a.first).compare(std::string_view(b.first)); c != 0) return c < 0;
    return std::string_view(a.second) < std::string_view(b.second);
  }
};

struct Server::Registry {
  struct StreamMethod {
    bool streamingInput = false;
    bool streamingOutput = false;
    StreamHandler handler;
  };
  std::map<std::pair<std::string, std::string>, RawHandler, MethodLess> unary;
  std::map<std::pair<std::string, std::string>, StreamMethod, MethodLess> streams;
  std::set<std::string, std::less<>> services;
  RawHandler fallback;
  Route route;
  ServerOptions options;

  mutable std::mutex mu;  // guards connections only
  std::vector<std::weak_ptr<ServerConnection>> connections;
};

// The state of one client stream on a connection.
class ServerStreamState final : public ServerStream {
 public:
  ServerStreamState(std::weak_ptr<ServerConnection> conn, uint32_t id, asio::any_io_executor ex,
                    bool streamingOutput)
      : conn_(std::move(conn)), id_(id), wake_(ex), streamingOutput_(streamingOutput) {}

  asio::awaitable<Result<std::optional<std::string>>> recv() override;
  Status send(std::string_view payload) override;

  // Called by the read loop. The connection counts the bytes in flight until recv() takes them.
  bool deliver(std::string payload);
  void remoteClose() {
    remoteClosed_ = true;
    wake_.cancel();
  }
  void fail(Error e) {
    failure_ = std::move(e);
    wake_.cancel();
  }
  bool remoteClosed() const { return remoteClosed_; }
  // Empties the inbox once the handler is done; returns the bytes dropped.
  size_t dropInbox() {
    size_t bytes = 0;
    for (auto& m : inbox_) bytes += m.size();
    inbox_.clear();
    return bytes;
  }

 private:
  std::weak_ptr<ServerConnection> conn_;
  uint32_t id_;
  asio::steady_timer wake_;
  bool streamingOutput_;
  std::deque<std::string> inbox_;
  bool remoteClosed_ = false;
  std::optional<Error> failure_;
};

class ServerConnection : public std::enable_shared_from_this<ServerConnection> {
 public:
  ServerConnection(std::shared_ptr<Server::Registry> registry, std::unique_ptr<ByteStream> stream)
      : registry_(std::move(registry)),
        options_(registry_->options),
        channel_(std::make_shared<FrameChannel>(std::move(stream))),
        resume_(channel_->executor()),
        idle_(channel_->executor()) {}

  void start() {
    asio::co_spawn(
        channel_->executor(), [self = shared_from_this()] { return self->readLoop(); },
        asio::detached);
    if (options_.idleTimeout.count() > 0) {
      asio::co_spawn(
          channel_->executor(), [self = shared_from_this()] { return self->idleWatch(); },
          asio::detached);
    }
  }

  // Closes the connection and wakes everything that waits on it: the paused read loop, the idle
  // watch and (with cancelOnDisconnect) the handlers still running.
  void close() {
    channel_->close();
    resume_.cancel();
    idle_.cancel();
    auto calls = std::move(calls_);
    calls_.clear();
    for (auto& c : calls) c->cancel(Code::kUnavailable);
  }
  asio::any_io_executor executor() { return channel_->executor(); }
  FrameChannel& channel() { return *channel_; }

  void respond(uint32_t id, const Result<std::string>& result) {
    channel_->sendOwned(id, MessageType::kResponse, 0, encodeResponse(result));
  }

  // The answer to a call passed on (ForwardedCall), as the next server sent it.
  void answerForwarded(uint32_t id, std::string responseBody, Code code, size_t bytes) {
    if (registry_->route.answered) registry_->route.answered(code);
    channel_->sendOwned(id, MessageType::kResponse, 0, std::move(responseBody));
    finishRequest(bytes);
  }

  // In-flight accounting: a request counts from its frame until its handler returns; streamed
  // messages count their bytes until the handler takes them.
  void holdBytes(size_t bytes) { inFlightBytes_ += bytes; }
  void releaseBytes(size_t bytes) {
    inFlightBytes_ -= bytes;
    resume_.cancel();
  }

 private:
  asio::awaitable<void> readLoop();
  asio::awaitable<void> waitForRoom();
  asio::awaitable<void> idleWatch();
  void onRequest(Frame& frame);
  bool forward(uint32_t id, std::string& body);
  void onData(Frame& frame);
  void startRequest(size_t bytes) {
    ++inFlight_;
    holdBytes(bytes);
  }
  void finishRequest(size_t bytes) {
    --inFlight_;
    lastActivity_ = std::chrono::steady_clock::now();
    releaseBytes(bytes);
  }
  std::shared_ptr<CallCancel> watchCall(
      std::optional<std::chrono::steady_clock::time_point> deadline);
  void endCall(CallCancel& cancel, Result<std::string>& result);
  asio::awaitable<void> runUnary(uint32_t id, CallContext ctx, std::string payload, size_t bytes,
                                 const RawHandler* handler, std::shared_ptr<CallCancel> cancel);
  asio::awaitable<void> runStream(uint32_t id, CallContext ctx,
                                  const Server::Registry::StreamMethod* method,
                                  std::shared_ptr<ServerStreamState> stream, size_t bytes,
                                  std::shared_ptr<CallCancel> cancel);

  std::shared_ptr<Server::Registry> registry_;
  const ServerOptions options_;
  std::shared_ptr<FrameChannel> channel_;
  uint32_t lastStreamId_ = 0;
  std::unordered_map<uint32_t, std::shared_ptr<ServerStreamState>> streams_;
  size_t inFlight_ = 0;
  size_t inFlightBytes_ = 0;
  std::chrono::steady_clock::time_point lastActivity_ = std::chrono::steady_clock::now();
  asio::steady_timer resume_;  // wakes the read loop paused at a cap
  asio::steady_timer idle_;
  // Calls whose handlers are running, cancelled when the connection closes (cancelOnDisconnect).
  std::vector<std::shared_ptr<CallCancel>> calls_;
};

bool ServerStreamState::deliver(std::string payload) {
  if (inbox_.size() >= kStreamInboxLimit) return false;
  if (auto conn = conn_.lock()) conn->holdBytes(payload.size());
  inbox_.push_back(std::move(payload));
  wake_.cancel();
  return true;
}

asio::awaitable<Result<std::optional<std::string>>> ServerStreamState::recv() {
  while (true) {
    if (failure_) co_return pp::fail(*failure_);
    auto conn = conn_.lock();
    if (!inbox_.empty()) {
      std::string next = std::move(inbox_.front());
      inbox_.pop_front();
      if (conn) conn->releaseBytes(next.size());
      co_return std::optional<std::string>(std::move(next));
    }
    if (remoteClosed_) co_return std::optional<std::string>();
    if (!conn || conn->channel().closed())
      co_return pp::fail(Code::kUnavailable, "connection closed");
    wake_.expires_at(asio::steady_timer::time_point::max());
    conn.reset();
    co_await wake_.async_wait(kUse);
  }
}

Status ServerStreamState::send(std::string_view payload) {
  if (!streamingOutput_)
    return pp::fail(Code::kFailedPrecondition, "method does not stream its output");
  if (payload.size() > kMaxMessageLength) {
    return pp::fail(Code::kResourceExhausted, "message length " + std::to_string(payload.size()) +
                                                  " exceed maximum message size of " +
                                                  std::to_string(kMaxMessageLength));
  }
  auto conn = conn_.lock();
  if (!conn || !conn->channel().send(id_, MessageType::kData, 0, payload)) {
    return pp::fail(Code::kUnavailable, "connection closed");
  }
  return {};
}

asio::awaitable<void> ServerConnection::readLoop() {
  while (true) {
    co_await waitForRoom();
    if (channel_->closed()) break;
    auto frame = co_await channel_->readFrame();
    if (!frame) break;
    lastActivity_ = std::chrono::steady_clock::now();
    switch (static_cast<MessageType>(frame->header.type)) {
      case MessageType::kRequest:
        onRequest(*frame);
        break;
      case MessageType::kData:
        onData(*frame);
        break;
      default:
        log::debug("ttrpc", "ignoring frame of unknown type {} on stream {} from {}",
                   frame->header.type, frame->header.streamId, channel_->peer());
        break;
    }
  }
  close();
  for (auto& [id, stream] : streams_) stream->fail(Error{Code::kUnavailable, "connection closed"});
  streams_.clear();
}

asio::awaitable<void> ServerConnection::waitForRoom() {
  // Not reading is what pushes back: the client's writes stall once the socket buffers fill.
  while (!channel_->closed() && (inFlight_ >= options_.maxInFlightRequests ||
                                 inFlightBytes_ >= options_.maxInFlightBytes)) {
    resume_.expires_at(asio::steady_timer::time_point::max());
    co_await resume_.async_wait(kUse);
  }
}

asio::awaitable<void> ServerConnection::idleWatch() {
  auto self = shared_from_this();
  while (!channel_->closed()) {
    auto now = std::chrono::steady_clock::now();
    if (inFlight_ == 0 && now - lastActivity_ >= options_.idleTimeout) {
      log::debug("ttrpc", "closing connection from {}: idle for {} ms", channel_->peer(),
                 options_.idleTimeout.count());
      close();
      break;
    }
    // Busy connections are looked at again a full period later; the period of an idle one
    // started with its last frame or answer.
    idle_.expires_at((inFlight_ > 0 ? now : lastActivity_) + options_.idleTimeout);
    co_await idle_.async_wait(kUse);
  }
}

void ServerConnection::onRequest(Frame& frame) {
  const uint32_t id = frame.header.streamId;
  if (id % 2 == 0) {
    respond(id,
            pp::fail(Code::kInvalidArgument, "StreamID must be odd for client initiated streams"));
    return;
  }
  if (id <= lastStreamId_) {
    respond(id, pp::fail(Code::kInvalidArgument, "StreamID cannot be re-used and must increment"));
    return;
  }
  lastStreamId_ = id;
  if (frame.oversized) {
    respond(id,
            pp::fail(Code::kResourceExhausted,
                     "message length " + std::to_string(frame.header.length) +
                         " exceed maximum message size of " + std::to_string(kMaxMessageLength)));
    return;
  }
  if (registry_->route.next && frame.header.flags == 0 && forward(id, frame.body)) return;
  ::ttrpc::Request req;
  if (!req.ParseFromString(frame.body)) {
    respond(id,
            pp::fail(Code::kInvalidArgument, "unmarshal request error: malformed ttrpc.Request"));
    return;
  }
  CallContext ctx;
  ctx.service = std::move(*req.mutable_service());
  ctx.method = std::move(*req.mutable_method());
  ctx.timeoutNano = req.timeout_nano();
  if (ctx.timeoutNano > 0) ctx.deadline = deadlineAfter(ctx.timeoutNano);
  ctx.metadata.reserve(req.metadata_size());
  for (auto& kv : *req.mutable_metadata()) {
    ctx.metadata.emplace_back(std::move(*kv.mutable_key()), std::move(*kv.mutable_value()));
  }
  ctx.peer = channel_->peer();

  const auto key = std::make_pair(ctx.service, ctx.method);
  const bool nonUnary = (frame.header.flags & (kFlagRemoteClosed | kFlagRemoteOpen)) != 0;
  if (auto it = registry_->streams.find(key); it != registry_->streams.end()) {
    auto stream = std::make_shared<ServerStreamState>(weak_from_this(), id, executor(),
                                                      it->second.streamingOutput);
    if (!req.payload().empty() || !it->second.streamingInput)
      stream->deliver(std::move(*req.mutable_payload()));
    if (!it->second.streamingInput || (frame.header.flags & kFlagRemoteClosed))
      stream->remoteClose();
    if (it->second.streamingInput && !stream->remoteClosed()) streams_[id] = stream;
    startRequest(frame.body.size());
    auto cancel = watchCall(ctx.deadline);
    asio::co_spawn(
        executor(),
        runStream(id, std::move(ctx), &it->second, std::move(stream), frame.body.size(), cancel),
        asio::bind_cancellation_slot(cancel->signal.slot(), asio::detached));
    return;
  }
  const RawHandler* handler = nullptr;
  if (auto it = registry_->unary.find(key); it != registry_->unary.end()) {
    handler = &it->second;
  } else if (registry_->fallback) {
    handler = &registry_->fallback;
  } else if (!registry_->services.contains(ctx.service)) {
    respond(id, pp::fail(Code::kUnimplemented, "service " + ctx.service));
    return;
  } else {
    respond(id, pp::fail(Code::kUnimplemented, "method " + ctx.method));
    return;
  }
  if (nonUnary && (frame.header.flags & kFlagRemoteOpen)) {
    // The client will stream Data frames that a unary handler cannot take.
    respond(id, pp::fail(Code::kInvalidArgument, "method " + ctx.method + " is unary"));
    return;
  }
  startRequest(frame.body.size());
  auto cancel = watchCall(ctx.deadline);
  asio::co_spawn(executor(),
                 runUnary(id, std::move(ctx), std::move(*req.mutable_payload()), frame.body.size(),
                          handler, cancel),
                 asio::bind_cancellation_slot(cancel->signal.slot(), asio::detached));
}

// A call with no handler of its own goes to the next server as bytes when the route names one
// (Route); false leaves it to the usual decoding and handlers, which also answer a malformed
// request.
bool ServerConnection::forward(uint32_t id, std::string& body) {
  RequestHead head;
  if (!peekRequest(body, &head)) return false;
  const std::pair key{head.service, head.method};
  if (registry_->unary.contains(key) || registry_->streams.contains(key)) return false;
  Client* next = registry_->route.next(head.service, head.method);
  if (!next) return false;
  const size_t bytes = body.size();
  startRequest(bytes);
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (head.timeoutNano > 0) deadline = deadlineAfter(head.timeoutNano);
  // `head` points into `body`: nothing reads it once the body has moved on.
  next->forward(std::move(body), deadline, ForwardedCall(weak_from_this(), id, bytes));
  return true;
}

ForwardedCall::ForwardedCall(ForwardedCall&& other) noexcept
    : conn_(std::move(other.conn_)),
      streamId_(other.streamId_),
      bytes_(other.bytes_),
      answered_(other.answered_) {
  other.answered_ = true;
}

ForwardedCall::~ForwardedCall() {
  if (!answered_) fail(Error{Code::kUnavailable, "ttrpc: call dropped by the relay"});
}

void ForwardedCall::respond(std::string responseBody, Code code) {
  if (answered_) return;
  answered_ = true;
  if (auto conn = conn_.lock())
    conn->answerForwarded(streamId_, std::move(responseBody), code, bytes_);
}

void ForwardedCall::fail(const Error& error) {
  if (answered_) return;
  answered_ = true;
  if (auto conn = conn_.lock()) {
    conn->answerForwarded(streamId_, encodeResponse(pp::fail(error)), error.code, bytes_);
  }
}

void ServerConnection::onData(Frame& frame) {
  const uint32_t id = frame.header.streamId;
  auto it = streams_.find(id);
  if (it == streams_.end()) {
    respond(id, pp::fail(Code::kInvalidArgument, "StreamID is no longer active"));
    return;
  }
  auto& stream = it->second;
  if (frame.oversized) {
    stream->fail(Error{Code::kResourceExhausted,
                       "message length " + std::to_string(frame.header.length) +
                           " exceed maximum message size of " + std::to_string(kMaxMessageLength)});
    streams_.erase(it);
    return;
  }
  const bool noData = frame.header.flags & kFlagNoData;
  if (!noData && !stream->deliver(std::move(frame.body))) {
    stream->fail(Error{Code::kResourceExhausted, "stream buffer full"});
    streams_.erase(it);
    return;
  }
  if (frame.header.flags & kFlagRemoteClosed) {
    stream->remoteClose();
    streams_.erase(it);
  }
}

namespace {

Result<std::string> guarded(std::exception_ptr ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    return pp::fail(Code::kInternal, std::string("handler failed: ") + e.what());
  } catch (...) {
    return pp::fail(Code::kInternal, "handler failed");
  }
}

}  // namespace

// A new call's cancellation: by its deadline when it has one, and by the connection closing
// (cancelOnDisconnect). A deadline past any practical time (saturated timeout_nano) sets no
// timer.
std::shared_ptr<CallCancel> ServerConnection::watchCall(
    std::optional<std::chrono::steady_clock::time_point> deadline) {
  auto cancel = std::make_shared<CallCancel>(executor());
  if (deadline && *deadline != std::chrono::steady_clock::time_point::max()) {
    cancel->deadline.expires_at(*deadline);
    cancel->deadline.async_wait([weak = std::weak_ptr<CallCancel>(cancel)](std::error_code ec) {
      if (auto c = weak.lock(); c && !ec) c->cancel(Code::kDeadlineExceeded);
    });
  }
  if (options_.cancelOnDisconnect) calls_.push_back(cancel);
  return cancel;
}

// After the handler: the call stops being cancellable, and a cancelled call answers why it was
// cancelled, whatever the handler made of the cancellation.
void ServerConnection::endCall(CallCancel& cancel, Result<std::string>& result) {
  cancel.deadline.cancel();
  if (options_.cancelOnDisconnect) {
    auto it =
        std::find_if(calls_.begin(), calls_.end(), [&](auto& c) { return c.get() == &cancel; });
    if (it != calls_.end()) {
      *it = std::move(calls_.back());  // unordered: calls_ is only ever walked whole
      calls_.pop_back();
    }
  }
  if (cancel.reason == Code::kDeadlineExceeded)
    result = pp::fail(Code::kDeadlineExceeded, "context deadline exceeded");
  else if (cancel.reason == Code::kUnavailable)
    result = pp::fail(Code::kUnavailable, "connection closed");
}

// The handler runs in this coroutine (no coroutine of its own between: one frame less per call),
// which was spawned with the call's cancellation slot.
asio::awaitable<void> ServerConnection::runUnary(uint32_t id, CallContext ctx, std::string payload,
                                                 size_t bytes, const RawHandler* handler,
                                                 std::shared_ptr<CallCancel> cancel) {
  auto self = shared_from_this();  // keeps the registry and channel alive
  Result<std::string> result;
  if (options_.cancelOnDisconnect && channel_->closed()) {
    result = pp::fail(Code::kUnavailable, "connection closed");
  } else {
    try {
      result = co_await (*handler)(ctx, std::move(payload));
    } catch (...) {
      result = guarded(std::current_exception());
    }
  }
  endCall(*cancel, result);
  respond(id, result);
  finishRequest(bytes);
}

asio::awaitable<void> ServerConnection::runStream(uint32_t id, CallContext ctx,
                                                  const Server::Registry::StreamMethod* method,
                                                  std::shared_ptr<ServerStreamState> stream,
                                                  size_t bytes,
                                                  std::shared_ptr<CallCancel> cancel) {
  auto self = shared_from_this();
  Result<std::string> result;
  if (options_.cancelOnDisconnect && channel_->closed()) {
    result = pp::fail(Code::kUnavailable, "connection closed");
  } else {
    try {
      result = co_await method->handler(ctx, *stream);
    } catch (...) {
      result = guarded(std::current_exception());
    }
  }
  endCall(*cancel, result);
  streams_.erase(id);
  if (result && method->streamingOutput) {
    channel_->send(id, MessageType::kData, kFlagRemoteClosed | kFlagNoData, {});
  } else {
    respond(id, result);
  }
  // Messages the handler left unread no longer count.
  finishRequest(bytes + stream->dropInbox());
}

Server::Server() : Server(ServerOptions{}) {}

Server::Server(ServerOptions options) : registry_(std::make_shared<Registry>()) {
  registry_->options = options;
  // Malformed input from peers makes libprotobuf print an error per message; keep that out of
  // the logs unless debugging (a peer must not be able to flood them).
  static std::once_flag once;
  std::call_once(once, [] {
    google::protobuf::SetLogHandler(
        [](google::protobuf::LogLevel, const char*, int, const std::string& msg) {
          log::debug("protobuf", "{}", msg);
        });
  });
}

Server::~Server() {
  shutdown();
}

void Server::addMethod(std::string service, std::string method, RawHandler handler) {
  registry_->services.insert(service);
  registry_->unary[{std::move(service), std::move(method)}] = std::move(handler);
}

void Server::addStream(std::string service, std::string method, bool streamingInput,
                       bool streamingOutput, StreamHandler handler) {
  registry_->services.insert(service);
  registry_->streams[{std::move(service), std::move(method)}] =
      Registry::StreamMethod{streamingInput, streamingOutput, std::move(handler)};
}

void Server::setFallback(RawHandler handler) {
  registry_->fallback = std::move(handler);
}

void Server::setRoute(Route route) {
  registry_->route = std::move(route);
}

void Server::serveConnection(std::unique_ptr<ByteStream> stream) {
  auto conn = std::make_shared<ServerConnection>(registry_, std::move(stream));
  {
    std::lock_guard lock(registry_->mu);
    std::erase_if(registry_->connections, [](auto& w) { return w.expired(); });
    registry_->connections.push_back(conn);
  }
  conn->start();
}

void Server::shutdown() {
  std::vector<std::shared_ptr<ServerConnection>> live;
  {
    std::lock_guard lock(registry_->mu);
    for (auto& w : registry_->connections) {
      if (auto c = w.lock()) live.push_back(std::move(c));
    }
    registry_->connections.clear();
  }
  // Each connection is closed on its own executor.
  for (auto& c : live) asio::post(c->executor(), [c] { c->close(); });
}

size_t Server::connectionCount() const {
  std::lock_guard lock(registry_->mu);
  size_t n = 0;
  for (auto& w : registry_->connections) {
    if (auto c = w.lock(); c && !c->channel().closed()) ++n;
  }
  return n;
}

}  // namespace pp::ttrpc
