#include "net/http_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include "base/log.h"

namespace pp::net {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr size_t kReadBufferBytes = 16 << 10;
// After an error response, unread request bytes are drained for at most this long (and this
// much) before closing, so that the client sees the response instead of a connection reset.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerBytes = 1 << 20;

template <typename T>
struct IsTlsStream : std::false_type {};
template <typename T>
struct IsTlsStream<asio::ssl::stream<T>> : std::true_type {};

// One accepted connection, shared by the coroutine that serves it and the watchdog that
// closes it when its deadline passes (both run on the connection's strand).
template <typename Stream>
struct Connection {
  template <typename... Args>
  explicit Connection(Args&&... args)
      : stream(std::forward<Args>(args)...), timer(stream.get_executor()) {}

  void closeSocket() {
    asio::error_code ignored;
    stream.lowest_layer().close(ignored);
  }
  // Ends the watchdog: a deadline in the past plus a cancelled wait.
  void finish() {
    deadline = Clock::time_point::min();
    timer.cancel();
    closeSocket();
  }

  Stream stream;
  asio::steady_timer timer;
  Clock::time_point deadline = Clock::time_point::max();
};

template <typename C>
asio::awaitable<void> watchdog(std::shared_ptr<C> connection) {
  for (;;) {
    if (connection->deadline <= Clock::now()) {
      connection->closeSocket();
      co_return;
    }
    connection->timer.expires_at(connection->deadline);
    co_await connection->timer.async_wait(kTuple);
  }
}

bool validHeaderName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == ':') return false;
  }
  return true;
}

bool validHeaderValue(std::string_view value) {
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
  }
  return true;
}

// Status line and headers of `response`. Invalid handler output (a status outside 200..599,
// a header that would break the framing) becomes a 500, because sending it would let a
// handler bug corrupt the connection.
std::string formatHead(ServerResponse& response, bool keepAlive, const std::string& component) {
  bool valid = response.status >= 200 && response.status <= 599;
  for (const auto& [name, value] : response.headers) {
    if (!validHeaderName(name) || !validHeaderValue(value)) valid = false;
  }
  if (!valid) {
    log::error(component, "handler produced an invalid response (status {}); answering 500",
               response.status);
    response = ServerResponse{500, {{"Content-Type", "text/plain"}}, "invalid response\n"};
  }
  std::string head =
      fmt::format("HTTP/1.1 {} {}\r\n", response.status, reasonPhrase(response.status));
  for (const auto& [name, value] : response.headers) {
    if (equalsIgnoreCase(name, "content-length") || equalsIgnoreCase(name, "transfer-encoding") ||
        equalsIgnoreCase(name, "connection")) {
      continue;
    }
    head += name;
    head += ": ";
    head += value;
    head += "\r\n";
  }
  if (response.stream && response.status != 204 && response.status != 304) {
    head += "Transfer-Encoding: chunked\r\n";
  } else if (response.status != 204 && response.status != 304) {
    head += fmt::format("Content-Length: {}\r\n", response.body.size());
  } else {
    response.body.clear();
  }
  if (!keepAlive) head += "Connection: close\r\n";
  head += "\r\n";
  return head;
}

}  // namespace

struct HttpServer::Impl {
  Impl(HttpServerOptions o, HttpHandler h) : options(std::move(o)), handler(std::move(h)) {
    ioc.emplace(static_cast<int>(std::max(1u, options.threads)));
  }

  HttpServerOptions options;
  HttpHandler handler;
  std::optional<asio::io_context> ioc;
  std::optional<asio::ip::tcp::acceptor> tcp;
  std::optional<asio::local::stream_protocol::acceptor> local;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  std::string url;
  std::atomic<uint64_t> accepted{0};
  std::mutex stopMutex;
  bool stopped = false;

  Status listen();
  Status listenTcp();
  Status listenUnix();
  asio::awaitable<void> acceptTcp();
  asio::awaitable<void> acceptUnix();
  asio::awaitable<void> pauseAfterAcceptError(const asio::error_code& ec);
  template <typename Stream>
  void spawn(std::shared_ptr<Connection<Stream>> connection);
  template <typename C>
  asio::awaitable<void> serve(std::shared_ptr<C> connection);
  template <typename C>
  asio::awaitable<void> serveRequests(C& connection);
  template <typename C>
  asio::awaitable<void> lingeringClose(C& connection);
  template <typename C>
  asio::awaitable<bool> writeStream(C& connection, const std::function<bool(std::string&)>& next);
  ServerResponse callHandler(const ServerRequest& request);
};

Status HttpServer::Impl::listen() {
  return options.unixSocket.empty() ? listenTcp() : listenUnix();
}

Status HttpServer::Impl::listenTcp() {
  asio::error_code ec;
  std::string host = options.host.empty() ? "0.0.0.0" : options.host;
  asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) {
    // A name rather than an address: take the first one it resolves to.
    asio::ip::tcp::resolver resolver(*ioc);
    auto results = resolver.resolve(host, "", ec);
    if (ec || results.empty()) {
      return fail(Code::kInvalidArgument, fmt::format("cannot resolve listen host {}: {}", host,
                                                      ec ? ec.message() : "no addresses"));
    }
    address = results.begin()->endpoint().address();
  }
  asio::ip::tcp::endpoint endpoint(address, options.port);
  tcp.emplace(*ioc);
  std::string where = fmt::format("{}:{}", host, options.port);
  tcp->open(endpoint.protocol(), ec);
  if (!ec) tcp->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) tcp->bind(endpoint, ec);
  if (!ec) tcp->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return fail(Code::kUnavailable, fmt::format("listen on {}: {}", where, ec.message()));
  }
  port = tcp->local_endpoint(ec).port();
  std::string urlHost =
      address.is_unspecified()
          ? (address.is_v6() ? "[::1]" : "127.0.0.1")
          : (address.is_v6() ? "[" + address.to_string() + "]" : address.to_string());
  url = fmt::format("{}://{}:{}", options.tls ? "https" : "http", urlHost, port);
  asio::co_spawn(*ioc, acceptTcp(), asio::detached);
  return {};
}

Status HttpServer::Impl::listenUnix() {
  const std::string& path = options.unixSocket;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    // Replace a socket left behind by a previous run, but never delete anything else.
    if (!S_ISSOCK(st.st_mode)) {
      return fail(Code::kFailedPrecondition, "listen on " + path + ": exists and is not a socket");
    }
    ::unlink(path.c_str());
  }
  asio::error_code ec;
  local.emplace(*ioc);
  asio::local::stream_protocol::endpoint endpoint(path);
  local->open(endpoint.protocol(), ec);
  if (!ec) local->bind(endpoint, ec);
  if (!ec) local->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return fail(Code::kUnavailable, fmt::format("listen on {}: {}", path, ec.message()));
  }
  url = "http://localhost";
  asio::co_spawn(*ioc, acceptUnix(), asio::detached);
  return {};
}

asio::awaitable<void> HttpServer::Impl::pauseAfterAcceptError(const asio::error_code& ec) {
  // Typically EMFILE: retrying at once would spin; a short pause lets connections finish.
  log::warn(options.name, "accept: {}", ec.message());
  asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::milliseconds(100));
  co_await pause.async_wait(kTuple);
}

asio::awaitable<void> HttpServer::Impl::acceptTcp() {
  for (;;) {
    // Each connection gets its own strand, so that with several threads its serving coroutine
    // and its watchdog never run at the same time.
    auto [ec, socket] =
        co_await tcp->async_accept(asio::any_io_executor(asio::make_strand(*ioc)), kTuple);
    if (ec == asio::error::operation_aborted || !tcp->is_open()) co_return;
    if (ec) {
      co_await pauseAfterAcceptError(ec);
      continue;
    }
    asio::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    if (options.tls) {
      spawn(std::make_shared<Connection<asio::ssl::stream<asio::ip::tcp::socket>>>(
          std::move(socket), *options.tls));
    } else {
      spawn(std::make_shared<Connection<asio::ip::tcp::socket>>(std::move(socket)));
    }
  }
}

asio::awaitable<void> HttpServer::Impl::acceptUnix() {
  for (;;) {
    auto [ec, socket] =
        co_await local->async_accept(asio::any_io_executor(asio::make_strand(*ioc)), kTuple);
    if (ec == asio::error::operation_aborted || !local->is_open()) co_return;
    if (ec) {
      co_await pauseAfterAcceptError(ec);
      continue;
    }
    spawn(std::make_shared<Connection<asio::local::stream_protocol::socket>>(std::move(socket)));
  }
}

template <typename Stream>
void HttpServer::Impl::spawn(std::shared_ptr<Connection<Stream>> connection) {
  accepted.fetch_add(1, std::memory_order_relaxed);
  auto executor = connection->stream.get_executor();
  asio::co_spawn(executor, watchdog(connection), asio::detached);
  asio::co_spawn(executor, serve(std::move(connection)), asio::detached);
}

template <typename C>
asio::awaitable<void> HttpServer::Impl::serve(std::shared_ptr<C> connection) {
  connection->deadline = Clock::now() + options.requestTimeout;
  connection->timer.cancel();  // re-arm the watchdog with the new deadline
  if constexpr (IsTlsStream<std::remove_cvref_t<decltype(connection->stream)>>::value) {
    auto [ec] = co_await connection->stream.async_handshake(asio::ssl::stream_base::server, kTuple);
    if (ec) {
      log::warn(options.name, "TLS handshake failed: {}", ec.message());
      connection->finish();
      co_return;
    }
  }
  try {
    co_await serveRequests(*connection);
  } catch (const std::exception& e) {
    // Only allocation failures can get here; the connection is dropped, the server lives on.
    log::error(options.name, "connection aborted: {}", e.what());
  }
  connection->finish();
}

template <typename C>
asio::awaitable<void> HttpServer::Impl::serveRequests(C& connection) {
  RequestParser parser(options.limits);
  std::vector<char> buffer(kReadBufferBytes);
  size_t begin = 0;
  size_t end = 0;
  for (;;) {
    parser.reset();
    bool sentContinue = false;
    while (parser.state() == RequestParser::State::kNeedMore) {
      if (begin == end) {
        if (parser.expectsContinue() && !sentContinue) {
          static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          auto [ec, n] =
              co_await asio::async_write(connection.stream, asio::buffer(kContinue), kTuple);
          if (ec) co_return;
          sentContinue = true;
        }
        // EOF, a reset or the watchdog's close all end the connection; a partial request
        // cannot be answered meaningfully.
        auto [ec, n] = co_await connection.stream.async_read_some(asio::buffer(buffer), kTuple);
        if (ec) co_return;
        begin = 0;
        end = n;
      }
      begin += parser.feed(std::string_view(buffer.data() + begin, end - begin));
    }

    if (parser.state() == RequestParser::State::kError) {
      log::debug(options.name, "bad request: {}", parser.errorMessage());
      ServerResponse response{
          parser.errorStatus(), {{"Content-Type", "text/plain"}}, parser.errorMessage() + "\n"};
      std::string head = formatHead(response, false, options.name);
      std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(response.body)};
      auto [ec, n] = co_await asio::async_write(connection.stream, buffers, kTuple);
      if (!ec) co_await lingeringClose(connection);
      co_return;
    }

    bool keepAlive = parser.keepAlive();
    bool head = parser.isHead();
    ServerRequest request = parser.take();
    ServerResponse response = callHandler(request);
    std::string responseHead = formatHead(response, keepAlive, options.name);
    std::array<asio::const_buffer, 2> buffers{asio::buffer(responseHead),
                                              asio::buffer(response.body)};
    if (head) buffers[1] = asio::const_buffer();  // HEAD: the length of a body not sent
    auto [ec, n] = co_await asio::async_write(connection.stream, buffers, kTuple);
    if (ec) co_return;
    if (response.stream && !head && response.status != 204 && response.status != 304) {
      if (!co_await writeStream(connection, response.stream)) co_return;
    }
    if (!keepAlive) co_return;
    // The next request (possibly already buffered: pipelining) gets a fresh time budget.
    connection.deadline = Clock::now() + options.requestTimeout;
    connection.timer.cancel();
  }
}

// Sends a streamed body as chunks; false when the connection broke.
template <typename C>
asio::awaitable<bool> HttpServer::Impl::writeStream(C& connection,
                                                    const std::function<bool(std::string&)>& next) {
  for (;;) {
    std::string piece;
    bool more = true;
    try {
      more = next(piece);
    } catch (const std::exception& e) {
      log::error(options.name, "response stream threw: {}", e.what());
      co_return false;  // the body is incomplete: the client must see the connection end
    }
    std::string out;
    if (!piece.empty()) out = fmt::format("{:x}\r\n{}\r\n", piece.size(), piece);
    if (!more) out += "0\r\n\r\n";
    if (!out.empty()) {
      // Each piece gets a fresh time budget: a stream may legitimately last long.
      connection.deadline = Clock::now() + options.requestTimeout;
      connection.timer.cancel();
      auto [ec, n] = co_await asio::async_write(connection.stream, asio::buffer(out), kTuple);
      if (ec) co_return false;
    }
    if (!more) co_return true;
  }
}

template <typename C>
asio::awaitable<void> HttpServer::Impl::lingeringClose(C& connection) {
  asio::error_code ec;
  connection.stream.lowest_layer().shutdown(asio::socket_base::shutdown_send, ec);
  if (ec) co_return;
  connection.deadline = std::min(connection.deadline, Clock::now() + kLingerTime);
  connection.timer.cancel();
  std::vector<char> sink(kReadBufferBytes);
  size_t drained = 0;
  while (drained < kLingerBytes) {
    auto [readError, n] = co_await connection.stream.async_read_some(asio::buffer(sink), kTuple);
    if (readError) break;
    drained += n;
  }
}

ServerResponse HttpServer::Impl::callHandler(const ServerRequest& request) {
  try {
    return handler(request);
  } catch (const std::exception& e) {
    log::error(options.name, "handler for {} {} threw: {}", request.method, request.path, e.what());
  } catch (...) {
    log::error(options.name, "handler for {} {} threw", request.method, request.path);
  }
  return ServerResponse{500, {{"Content-Type", "text/plain"}}, "internal error\n"};
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  stop();
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(const HttpServerOptions& options,
                                                      HttpHandler handler) {
  if (!handler) return fail(Code::kInvalidArgument, "HTTP server needs a handler");
  auto impl = std::make_unique<Impl>(options, std::move(handler));
  if (auto st = impl->listen(); !st) return fail(st.error());
  for (unsigned i = 0; i < std::max(1u, options.threads); ++i) {
    impl->threads.emplace_back([ioc = &*impl->ioc] { ioc->run(); });
  }
  log::debug(options.name, "serving on {}",
             options.unixSocket.empty() ? impl->url : options.unixSocket);
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

uint16_t HttpServer::port() const {
  return impl_->port;
}

std::string HttpServer::baseUrl() const {
  return impl_->url;
}

uint64_t HttpServer::connectionsAccepted() const {
  return impl_->accepted.load(std::memory_order_relaxed);
}

void HttpServer::stop() {
  if (!impl_) return;
  std::lock_guard lock(impl_->stopMutex);
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->ioc->stop();
  for (auto& thread : impl_->threads) thread.join();
  // Destroying the io_context destroys the suspended coroutines and with them every
  // connection; the acceptors go first because they belong to it.
  impl_->tcp.reset();
  impl_->local.reset();
  impl_->ioc.reset();
  if (!impl_->options.unixSocket.empty()) ::unlink(impl_->options.unixSocket.c_str());
}

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

}  // namespace pp::net
