#include "ttrpc/client.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "ttrpc/channel.h"
#include "ttrpc/envelope.h"
#include "ttrpc/peek.h"

namespace pp::ttrpc {
namespace {
constexpr auto kUse = asio::experimental::as_tuple(asio::use_awaitable);
}

// Lives in the calling coroutine's frame; the read loop fills it and wakes the caller by
// cancelling its timer (which also serves as the deadline).
struct Client::PendingCall {
  explicit PendingCall(asio::any_io_executor ex) : timer(ex) {}
  asio::steady_timer timer;
  bool done = false;
  Result<std::string> result;
};

const CallOptions& Client::noOptions() {
  static const CallOptions none;
  return none;
}

std::shared_ptr<Client> Client::create(std::unique_ptr<ByteStream> stream) {
  std::shared_ptr<Client> client(new Client(std::move(stream)));
  // The read loop holds the client weakly: dropping the last reference closes the connection.
  asio::co_spawn(client->executor_, readLoop(client, client->channel_), asio::detached);
  return client;
}

Client::Client(std::unique_ptr<ByteStream> stream)
    : executor_(stream->executor()), channel_(std::make_shared<FrameChannel>(std::move(stream))) {}

Client::~Client() {
  if (!forwarded_.empty()) failAll(Error{Code::kUnavailable, "ttrpc: client closed"});
  channel_->close();
}

bool Client::closed() const {
  return closedReason_.has_value() || channel_->closed();
}

void Client::close() {
  failAll(Error{Code::kUnavailable, "ttrpc: client closed"});
  channel_->close();
}

void Client::failAll(const Error& error) {
  if (!closedReason_) closedReason_ = error;
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, call] : pending) {
    call->done = true;
    call->result = fail(error);
    call->timer.cancel();
  }
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, weak] : streams) {
    if (auto s = weak.lock()) s->fail(error);
  }
  auto forwarded = std::move(forwarded_);
  forwarded_.clear();
  deadlines_.clear();
  if (deadlineTimer_) deadlineTimer_->cancel();
  timerAt_.reset();
  for (auto& [id, f] : forwarded) f.call.fail(error);
}

void Client::forward(std::string requestBody,
                     std::optional<std::chrono::steady_clock::time_point> deadline,
                     ForwardedCall call) {
  if (closed()) {
    call.fail(closedReason_ ? *closedReason_ : Error{Code::kUnavailable, "ttrpc: client closed"});
    return;
  }
  const uint32_t id = nextStreamId_;
  nextStreamId_ += 2;
  auto [it, inserted] = forwarded_.try_emplace(id, std::move(call));
  if (deadline && *deadline != std::chrono::steady_clock::time_point::max()) {
    it->second.deadline = deadlines_.emplace(*deadline, id);
    armDeadline();
  }
  channel_->sendOwned(id, MessageType::kRequest, 0, std::move(requestBody));
}

// One timer for the forwarded calls' deadlines, armed for the earliest. A call answered in time
// leaves the timer as it is: when it fires with nothing due it re-arms for the next deadline, so
// calls that come and go with similar timeouts re-arm it about once per timeout, not per call.
void Client::armDeadline() {
  if (deadlines_.empty()) return;
  const auto earliest = deadlines_.begin()->first;
  if (timerAt_ && *timerAt_ <= earliest) return;
  if (!deadlineTimer_) deadlineTimer_ = std::make_unique<asio::steady_timer>(executor_);
  timerAt_ = earliest;
  deadlineTimer_->expires_at(earliest);  // a wait already armed ends with operation_aborted
  deadlineTimer_->async_wait([weak = weak_from_this()](std::error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->expireForwarded();
  });
}

void Client::expireForwarded() {
  timerAt_.reset();
  const auto now = std::chrono::steady_clock::now();
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const uint32_t id = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    auto it = forwarded_.find(id);
    if (it == forwarded_.end()) continue;
    ForwardedCall call = std::move(it->second.call);
    forwarded_.erase(it);
    call.fail(Error{Code::kDeadlineExceeded, "context deadline exceeded"});
  }
  armDeadline();
}

asio::awaitable<void> Client::readLoop(std::weak_ptr<Client> weak,
                                       std::shared_ptr<FrameChannel> channel) {
  while (true) {
    auto frame = co_await channel->readFrame();
    auto self = weak.lock();
    if (!self) break;
    if (!frame) {
      self->failAll(Error{Code::kUnavailable, "ttrpc: connection to " + channel->peer() +
                                                  " lost: " + frame.error().message});
      break;
    }
    self->onFrame(*frame);
  }
  channel->close();
}

void Client::onFrame(Frame& frame) {
  {
    const uint32_t id = frame.header.streamId;
    if (auto it = forwarded_.find(id); it != forwarded_.end()) {
      ForwardedCall call = std::move(it->second.call);
      if (it->second.deadline) deadlines_.erase(*it->second.deadline);
      forwarded_.erase(it);
      int32_t code;
      if (frame.oversized) {
        call.fail(Error{Code::kResourceExhausted, "ttrpc: response exceeds 4 MiB"});
      } else if (frame.header.type != static_cast<uint8_t>(MessageType::kResponse)) {
        call.fail(Error{Code::kInternal, "ttrpc: unexpected frame type on a unary call"});
      } else if (!peekResponseCode(frame.body, &code)) {
        call.fail(Error{Code::kInternal, "ttrpc: malformed response envelope"});
      } else {
        call.respond(std::move(frame.body), static_cast<Code>(code));
      }
      return;
    }
    if (auto it = pending_.find(id); it != pending_.end()) {
      PendingCall* call = it->second;
      pending_.erase(it);
      call->done = true;
      if (frame.oversized) {
        call->result = fail(Code::kResourceExhausted, "ttrpc: response exceeds 4 MiB");
      } else if (frame.header.type != static_cast<uint8_t>(MessageType::kResponse)) {
        call->result = fail(Code::kInternal, "ttrpc: unexpected frame type on a unary call");
      } else {
        call->result = decodeResponse(frame.body);
      }
      call->timer.cancel();
      return;
    }
    if (auto it = streams_.find(id); it != streams_.end()) {
      auto stream = it->second.lock();
      if (stream) stream->onFrame(frame);
      if (!stream || stream->remoteClosed_ || stream->failure_) streams_.erase(id);
    }
    // Frames for streams we gave up on (deadline passed) are dropped, as Go does.
  }
}

asio::awaitable<Result<std::string>> Client::call(std::string_view service, std::string_view method,
                                                  std::string_view payload,
                                                  const CallOptions& options) {
  if (closed()) {
    co_return fail(closedReason_ ? *closedReason_
                                 : Error{Code::kUnavailable, "ttrpc: client closed"});
  }
  auto self = shared_from_this();
  int64_t timeoutNano = 0;
  if (options.deadline) {
    auto left = *options.deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds::zero()) {
      co_return fail(Code::kDeadlineExceeded, "context deadline exceeded");
    }
    timeoutNano = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
  }
  std::string body = encodeRequest(service, method, payload, timeoutNano, options.metadata);
  if (body.size() > kMaxMessageLength) {
    co_return fail(Code::kResourceExhausted, "message length " + std::to_string(body.size()) +
                                                 " exceed maximum message size of " +
                                                 std::to_string(kMaxMessageLength));
  }
  const uint32_t id = nextStreamId_;
  nextStreamId_ += 2;
  PendingCall pc(executor_);
  pc.timer.expires_at(options.deadline.value_or(asio::steady_timer::time_point::max()));
  pending_[id] = &pc;
  channel_->sendOwned(id, MessageType::kRequest, 0, std::move(body));
  auto [ec] = co_await pc.timer.async_wait(kUse);
  if (!pc.done) {
    pending_.erase(id);
    if (!ec) co_return fail(Code::kDeadlineExceeded, "context deadline exceeded");
    co_return fail(Code::kCancelled, "context canceled");
  }
  co_return std::move(pc.result);
}

Result<std::shared_ptr<ClientStream>> Client::openStream(std::string_view service,
                                                         std::string_view method,
                                                         bool streamingInput, bool streamingOutput,
                                                         std::string_view firstPayload) {
  if (closed()) return fail(Code::kUnavailable, "ttrpc: client closed");
  std::string body = encodeRequest(service, method, firstPayload, 0, {});
  if (body.size() > kMaxMessageLength)
    return fail(Code::kResourceExhausted, "request exceeds 4 MiB");
  const uint32_t id = nextStreamId_;
  nextStreamId_ += 2;
  std::shared_ptr<ClientStream> stream(new ClientStream(shared_from_this(), id, streamingOutput));
  streams_[id] = stream;
  uint8_t flags = streamingInput ? kFlagRemoteOpen : kFlagRemoteClosed;
  stream->localClosed_ = !streamingInput;
  channel_->send(id, MessageType::kRequest, flags, body);
  return stream;
}

ClientStream::ClientStream(std::shared_ptr<Client> client, uint32_t id, bool streamingOutput)
    : client_(std::move(client)),
      id_(id),
      streamingOutput_(streamingOutput),
      wake_(std::make_unique<asio::steady_timer>(client_->executor_)) {}

ClientStream::~ClientStream() = default;

Status ClientStream::send(std::string_view payload) {
  if (localClosed_) return pp::fail(Code::kFailedPrecondition, "stream already closed for sending");
  if (failure_) return pp::fail(*failure_);
  if (payload.size() > kMaxMessageLength)
    return pp::fail(Code::kResourceExhausted, "message exceeds 4 MiB");
  if (!client_->channel_->send(id_, MessageType::kData, 0, payload)) {
    return pp::fail(Code::kUnavailable, "ttrpc: client closed");
  }
  return {};
}

Status ClientStream::closeSend() {
  if (localClosed_) return {};
  localClosed_ = true;
  if (!client_->channel_->send(id_, MessageType::kData, kFlagRemoteClosed | kFlagNoData, {})) {
    return pp::fail(Code::kUnavailable, "ttrpc: client closed");
  }
  return {};
}

void ClientStream::onFrame(Frame& frame) {
  if (frame.oversized) {
    fail(Error{Code::kResourceExhausted, "ttrpc: message exceeds 4 MiB"});
    return;
  }
  if (frame.header.type == static_cast<uint8_t>(MessageType::kResponse)) {
    auto r = decodeResponse(frame.body);
    if (!r) {
      fail(r.error());
      return;
    }
    if (!r->empty() || !streamingOutput_) inbox_.push_back(std::move(*r));
    remoteClosed_ = true;
  } else if (frame.header.type == static_cast<uint8_t>(MessageType::kData)) {
    if (!(frame.header.flags & kFlagNoData)) inbox_.push_back(std::move(frame.body));
    if (frame.header.flags & kFlagRemoteClosed) remoteClosed_ = true;
  }
  wake_->cancel();
}

void ClientStream::fail(const Error& e) {
  if (!failure_) failure_ = e;
  wake_->cancel();
}

asio::awaitable<Result<std::optional<std::string>>> ClientStream::recv() {
  auto self = shared_from_this();
  while (true) {
    if (!inbox_.empty()) {
      std::string next = std::move(inbox_.front());
      inbox_.pop_front();
      co_return std::optional<std::string>(std::move(next));
    }
    if (failure_) co_return pp::fail(*failure_);
    if (remoteClosed_) co_return std::optional<std::string>();
    wake_->expires_at(asio::steady_timer::time_point::max());
    auto [ec] = co_await wake_->async_wait(kUse);
    (void)ec;
  }
}

}  // namespace pp::ttrpc
