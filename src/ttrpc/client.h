// ttrpc client: one connection, concurrent calls on stream ids 1, 3, 5, ...
// Use from coroutines on the connection's executor only.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "base/error.h"
#include "ttrpc/server.h"
#include "ttrpc/stream.h"

namespace pp::ttrpc {

class FrameChannel;
struct Frame;

struct CallOptions {
  std::optional<std::chrono::steady_clock::time_point> deadline;
  Metadata metadata;
};

class ClientStream;

class Client : public std::enable_shared_from_this<Client> {
 public:
  // Takes a connected stream and starts reading responses.
  static std::shared_ptr<Client> create(std::unique_ptr<ByteStream> stream);
  ~Client();

  // Unary call: returns the response payload, or the server's status as an Error.
  // Transport failures are UNAVAILABLE; an expired deadline is DEADLINE_EXCEEDED.
  // `options` by reference, no default temporary: GCC 12 mishandles temporaries with
  // destructors that live across a co_await.
  asio::awaitable<Result<std::string>> call(std::string_view service, std::string_view method,
                                            std::string_view payload, const CallOptions& options);
  asio::awaitable<Result<std::string>> call(std::string_view service, std::string_view method,
                                            std::string_view payload) {
    return call(service, method, payload, noOptions());
  }
  static const CallOptions& noOptions();

  template <typename Resp, typename Req>
  asio::awaitable<Result<Resp>> callTyped(std::string_view service, std::string_view method,
                                          const Req& req,
                                          const CallOptions& options = noOptions()) {
    std::string payload = req.SerializeAsString();
    auto bytes = co_await call(service, method, payload, options);
    if (!bytes) co_return fail(std::move(bytes.error()));
    Resp resp;
    if (!resp.ParseFromString(*bytes)) {
      co_return fail(Code::kInternal, "ttrpc: error unmarshalling response " + resp.GetTypeName());
    }
    co_return resp;
  }

  // Opens a streaming call. `firstPayload` goes in the Request frame.
  Result<std::shared_ptr<ClientStream>> openStream(std::string_view service,
                                                   std::string_view method, bool streamingInput,
                                                   bool streamingOutput,
                                                   std::string_view firstPayload = {});

  // Passes a ttrpc.Request body on as it came, under this connection's next stream id, and
  // answers `call` with the ttrpc.Response body as it comes back (a relay's call, see
  // ttrpc::Route): no coroutine and no decoding, only the response's status is checked to be
  // well-formed. The deadline is kept here, by one timer for all such calls: past it the call
  // is answered DEADLINE_EXCEEDED and a late answer dropped.
  void forward(std::string requestBody,
               std::optional<std::chrono::steady_clock::time_point> deadline, ForwardedCall call);

  void close();
  bool closed() const;
  asio::any_io_executor executor() const { return executor_; }

 private:
  friend class ClientStream;
  struct PendingCall;
  explicit Client(std::unique_ptr<ByteStream> stream);
  static asio::awaitable<void> readLoop(std::weak_ptr<Client> weak,
                                        std::shared_ptr<FrameChannel> channel);
  void onFrame(Frame& frame);
  void failAll(const Error& error);
  void armDeadline();
  void expireForwarded();

  using Deadlines = std::multimap<std::chrono::steady_clock::time_point, uint32_t>;
  struct Forwarded {
    explicit Forwarded(ForwardedCall c) : call(std::move(c)) {}
    ForwardedCall call;
    std::optional<Deadlines::iterator> deadline;
  };

  asio::any_io_executor executor_;
  std::shared_ptr<FrameChannel> channel_;
  uint32_t nextStreamId_ = 1;
  std::unordered_map<uint32_t, PendingCall*> pending_;
  std::unordered_map<uint32_t, std::weak_ptr<ClientStream>> streams_;
  std::unordered_map<uint32_t, Forwarded> forwarded_;
  Deadlines deadlines_;                                // of the forwarded calls that have one
  std::unique_ptr<asio::steady_timer> deadlineTimer_;  // made by the first deadline
  std::optional<std::chrono::steady_clock::time_point> timerAt_;  // when it is armed for
  std::optional<Error> closedReason_;
};

class ClientStream : public std::enable_shared_from_this<ClientStream> {
 public:
  ~ClientStream();
  Status send(std::string_view payload);
  // Tells the server the client sends no more messages.
  Status closeSend();
  // Next message from the server; std::nullopt when the server finished successfully.
  asio::awaitable<Result<std::optional<std::string>>> recv();

 private:
  friend class Client;
  ClientStream(std::shared_ptr<Client> client, uint32_t id, bool streamingOutput);
  void onFrame(Frame& frame);
  void fail(const Error& e);

  std::shared_ptr<Client> client_;
  uint32_t id_;
  bool streamingOutput_;
  bool localClosed_ = false;
  bool remoteClosed_ = false;
  std::optional<Error> failure_;
  std::deque<std::string> inbox_;
  std::unique_ptr<asio::steady_timer> wake_;
};

}  // namespace pp::ttrpc
