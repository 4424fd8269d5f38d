// ttrpc server: many concurrent streams per connection, each answered independently.
// Handlers are coroutines on the connection's executor; one that must block (a cloud call)
// offloads its work and awaits it. Register every method before serving connections.
#pragma once

#include <asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"
#include "ttrpc/stream.h"

namespace pp::ttrpc {

using Metadata = std::vector<std::pair<std::string, std::string>>;

struct CallContext {
  // Not an aggregate on purpose: GCC 12 mis-copies aggregate coroutine parameters.
  CallContext() = default;
  std::string service;
  std::string method;
  Metadata metadata;
  int64_t timeoutNano = 0;  // as received; 0 = no deadline
  std::optional<std::chrono::steady_clock::time_point> deadline;
  std::string peer;
};

// Returns the response payload bytes, or an error that becomes the Response status.
using RawHandler =
    std::function<asio::awaitable<Result<std::string>>(const CallContext&, std::string payload)>;

class Client;
class ServerConnection;

// A call that a relay passes on as bytes (Server::setRoute): where its answer goes. Answer it
// once, with respond() or fail(), on the connection's executor; one destroyed unanswered
// answers UNAVAILABLE. The answer is dropped if the caller's connection has closed meanwhile.
class ForwardedCall {
 public:
  ForwardedCall(std::weak_ptr<ServerConnection> conn, uint32_t streamId, size_t bytes)
      : conn_(std::move(conn)), streamId_(streamId), bytes_(bytes) {}
  ForwardedCall(ForwardedCall&& other) noexcept;
  ForwardedCall& operator=(ForwardedCall&&) = delete;
  ~ForwardedCall();

  // `responseBody` is a whole ttrpc.Response, sent to the caller as it is; `code` is its
  // status code (for Route::answered).
  void respond(std::string responseBody, Code code);
  void fail(const Error& error);

 private:
  std::weak_ptr<ServerConnection> conn_;
  uint32_t streamId_;
  size_t bytes_;  // the request's, held against the connection's in-flight cap until answered
  bool answered_ = false;
};

// How a relay passes calls on without decoding them. For each plain unary call (no stream
// flags) whose service and method have no handler registered, next(service, method) may name
// the connection to the next server: the request then goes there as it came (its body
// unchanged, under that connection's next stream id) and the answer comes back as it came,
// neither decoded; the call's deadline (timeout_nano) is kept by that connection. Returning
// null hands the call to the fallback handler (for example while the next server is being
// dialled). `answered`, if set, sees the status code of every answer to a call passed on.
// The next connection must run on the same single-threaded executor as the server's
// connections: answers are written from its read loop.
struct Route {
  std::function<Client*(std::string_view service, std::string_view method)> next;
  std::function<void(Code)> answered;
};

class ServerStream;
// Streaming handler. For methods whose output is not streamed, the returned string is the
// Response payload; for streamed output the handler sends Data frames with stream.send() and
// returns an empty string (the server closes the stream with an empty Data RC|ND frame).
using StreamHandler =
    std::function<asio::awaitable<Result<std::string>>(const CallContext&, ServerStream&)>;

class ServerStream {
 public:
  virtual ~ServerStream() = default;
  // Next message from the client; std::nullopt once the client closed its side.
  virtual asio::awaitable<Result<std::optional<std::string>>> recv() = 0;
  // Sends one message to the client (streamed output only).
  virtual Status send(std::string_view payload) = 0;
};

// Limits that keep one connection from making the server hold unbounded memory or work.
struct ServerOptions {
  // Per connection: requests whose handler is still running, and the bytes they hold (request
  // bodies, plus streamed messages a handler has not taken yet). At either cap the server stops
  // reading that connection until work finishes (backpressure); nothing is dropped. The bytes
  // cap can be passed by one frame (at most 4 MiB): it is checked before each frame is read.
  size_t maxInFlightRequests = 128;
  size_t maxInFlightBytes = 16u << 20;
  // A connection with nothing in flight and no frame received for this long is closed.
  // Zero (the default) keeps idle connections: the shim holds its connections for the pod's
  // lifetime and may stay quiet; the forwarder sets one (see ForwarderOptions).
  std::chrono::milliseconds idleTimeout{0};
  // Handlers still running when their connection closes are cancelled (at their next co_await),
  // as Go's ttrpc cancels the request context, so their memory returns at once.
  bool cancelOnDisconnect = true;
};

class Server {
 public:
  Server();
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void addMethod(std::string service, std::string method, RawHandler handler);
  void addStream(std::string service, std::string method, bool streamingInput, bool streamingOutput,
                 StreamHandler handler);
  // Called for every unary (service, method) not registered; lets a proxy relay unknown calls.
  void setFallback(RawHandler handler);
  // Calls with no handler registered are first offered to `route` (see Route).
  void setRoute(Route route);

  // Typed unary method: Req and Resp are protobuf messages.
  template <typename Req, typename Resp, typename Fn>
  void addTyped(std::string service, std::string method, Fn fn) {
    addMethod(std::move(service), std::move(method),
              [fn](const CallContext& ctx, std::string payload) {
                return invokeTyped<Req, Resp, Fn>(fn, ctx, std::move(payload));
              });
  }

  // Serves one connection until the peer closes it or shutdown() is called.
  void serveConnection(std::unique_ptr<ByteStream> stream);

  // Closes every connection; handlers still running are cancelled (or, without
  // cancelOnDisconnect, see their writes dropped).
  void shutdown();
  size_t connectionCount() const;

  struct Registry;

 private:
  template <typename Req, typename Resp, typename Fn>
  static asio::awaitable<Result<std::string>> invokeTyped(Fn fn, const CallContext& ctx,
                                                          std::string payload) {
    Req req;
    if (!req.ParseFromString(payload)) {
      co_return fail(Code::kInternal,
                     "ttrpc: error unmarshalling payload: invalid " + req.GetTypeName());
    }
    Result<Resp> resp = co_await fn(ctx, std::move(req));
    if (!resp) co_return fail(std::move(resp.error()));
    co_return resp->SerializeAsString();
  }

  std::shared_ptr<Registry> registry_;
};

}  // namespace pp::ttrpc
