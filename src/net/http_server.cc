#include "net/http_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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
#include <list>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <type_traits>
#include <vector>

#include "base/accept_backoff.h"
#include "base/log.h"

namespace pp::net {
namespace {

using namespace std::chrono_literals;
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

// Finds where a request head ends (its empty line) in the bytes the parser consumed, to tell
// the header timeout from the request timeout. Empty lines before the request line do not
// count, as the parser skips them too.
class HeadEndScanner {
 public:
  // True once the head has ended (with these bytes or earlier ones).
  bool feed(std::string_view bytes) {
    for (char c : bytes) {
      if (done_) break;
      if (!started_ && (c == '\r' || c == '\n')) continue;
      started_ = true;
      last4_ = (last4_ << 8) | static_cast<unsigned char>(c);
      done_ = last4_ == 0x0d0a0d0a;  // "\r\n\r\n"
    }
    return done_;
  }

 private:
  bool started_ = false;
  bool done_ = false;
  uint32_t last4_ = 0;
};

// What the accept loop needs of a connection of any stream type: to close it to make room
// at the connection cap while it idles between requests.
struct IdleConnection : std::enable_shared_from_this<IdleConnection> {
  virtual ~IdleConnection() = default;
  // Any thread: closes the connection on its strand if it is still idle by then.
  virtual void closeIfIdle() = 0;

  bool idle = false;  // on the connection's strand
  // Its place in HttpServer::Impl::idleConnections while listed there (under idleMutex).
  std::optional<std::list<std::weak_ptr<IdleConnection>>::iterator> idleEntry;
};

// One accepted connection, shared by the coroutine that serves it and the watchdog that
// closes it when its deadline passes (both run on the connection's strand).
template <typename Stream>
struct Connection final : IdleConnection {
  template <typename... Args>
  explicit Connection(Args&&... args)
      : stream(std::forward<Args>(args)...), timer(stream.get_executor()) {}

  void closeIfIdle() override {
    asio::post(stream.get_executor(), [self = shared_from_this(), this] {
      if (idle) closeSocket();
    });
  }
  void setDeadline(Clock::time_point at) {
    deadline = at;
    timer.cancel();  // re-arms the watchdog
  }
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
  using AcceptStrand = asio::strand<asio::io_context::executor_type>;

  Impl(HttpServerOptions o, HttpHandler h) : options(std::move(o)), handler(std::move(h)) {
    options.maxConnections = std::max<size_t>(1, options.maxConnections);
    ioc.emplace(static_cast<int>(std::max(1u, options.threads)));
    acceptStrand.emplace(asio::make_strand(*ioc));
    wake.emplace(*acceptStrand);
  }

  HttpServerOptions options;
  HttpHandler handler;
  std::optional<asio::io_context> ioc;
  // The accept loop and its timer (accept back-off, or room under the connection cap).
  std::optional<AcceptStrand> acceptStrand;
  std::optional<asio::steady_timer> wake;
  std::optional<asio::ip::tcp::acceptor> tcp;
  std::optional<asio::local::stream_protocol::acceptor> local;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  std::string url;
  std::atomic<uint64_t> accepted{0};
  std::atomic<size_t> open{0};
  // Kept-alive connections waiting for their next request, longest waiting first.
  std::mutex idleMutex;
  std::list<std::weak_ptr<IdleConnection>> idleConnections;
  log::RateLimitedWarning handshakeLog;
  std::mutex stopMutex;
  bool stopped = false;

  Status listen();
  Status listenTcp();
  Status listenUnix();
  template <typename Acceptor, typename Spawn>
  asio::awaitable<void> acceptLoop(Acceptor& acceptor, Spawn spawnConnection);
  template <typename Acceptor>
  asio::awaitable<bool> waitForRoom(Acceptor& acceptor);
  bool closeAnIdleConnection();
  void wakeAcceptLoop();
  void markIdle(const std::shared_ptr<IdleConnection>& connection);
  void markBusy(IdleConnection& connection);
  template <typename Stream>
  void spawn(std::shared_ptr<Connection<Stream>> connection);
  template <typename C>
  asio::awaitable<void> serve(std::shared_ptr<C> connection);
  template <typename C>
  asio::awaitable<void> serveRequests(std::shared_ptr<C> connection);
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
  asio::co_spawn(
      *acceptStrand,
      acceptLoop(*tcp,
                 [this](asio::ip::tcp::socket socket) {
                   asio::error_code ignored;
                   socket.set_option(asio::ip::tcp::no_delay(true), ignored);
                   if (options.tls) {
                     spawn(std::make_shared<Connection<asio::ssl::stream<asio::ip::tcp::socket>>>(
                         std::move(socket), *options.tls));
                   } else {
                     spawn(std::make_shared<Connection<asio::ip::tcp::socket>>(std::move(socket)));
                   }
                 }),
      asio::detached);
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
  asio::co_spawn(
      *acceptStrand,
      acceptLoop(*local,
                 [this](asio::local::stream_protocol::socket socket) {
                   spawn(std::make_shared<Connection<asio::local::stream_protocol::socket>>(
                       std::move(socket)));
                 }),
      asio::detached);
  return {};
}

// Runs on the accept strand, the only place the acceptor and `wake` are used while serving.
template <typename Acceptor, typename Spawn>
asio::awaitable<void> HttpServer::Impl::acceptLoop(Acceptor& acceptor, Spawn spawnConnection) {
  AcceptBackoff backoff;
  asio::error_code ignored;
  std::ostringstream endpoint;  // host:port, or the unix socket's path
  endpoint << acceptor.local_endpoint(ignored);
  const std::string where = endpoint.str();
  for (;;) {
    if (!co_await waitForRoom(acceptor)) co_return;
    // Each connection gets its own strand, so that with several threads its serving coroutine
    // and its watchdog never run at the same time.
    auto [ec, socket] =
        co_await acceptor.async_accept(asio::any_io_executor(asio::make_strand(*ioc)), kTuple);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // A connection that ends meanwhile frees a descriptor and cuts the wait short.
      wake->expires_after(backoff.onError(ec, options.name, where));
      co_await wake->async_wait(kTuple);
      continue;
    }
    backoff.onSuccess();
    open.fetch_add(1, std::memory_order_relaxed);
    spawnConnection(std::move(socket));
  }
}

// Returns once fewer than maxConnections are open (false when the acceptor is closed). At the
// cap nothing is accepted, so newcomers wait in the listen backlog; when one is waiting there,
// an idle kept-alive connection is closed for it.
template <typename Acceptor>
asio::awaitable<bool> HttpServer::Impl::waitForRoom(Acceptor& acceptor) {
  while (open.load() >= options.maxConnections) {
    bool anyIdle = false;
    {
      std::lock_guard lock(idleMutex);
      anyIdle = !idleConnections.empty();
    }
    if (anyIdle) {
      // Completes when a connection waits in the backlog; a connection ending meanwhile
      // needs no wake-up, there is nobody to accept yet.
      auto [ec] = co_await acceptor.async_wait(asio::socket_base::wait_read, kTuple);
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return false;
      if (open.load() < options.maxConnections) break;
      closeAnIdleConnection();
    }
    // Woken by a connection that ends, or one that turns idle (see markIdle). Connections post
    // their wake-up to this strand, so one cannot slip in between the check and the wait.
    wake->expires_at(Clock::time_point::max());
    co_await wake->async_wait(kTuple);
    if (!acceptor.is_open()) co_return false;
  }
  co_return true;
}

// The longest idle connection is asked to close; false when there is none.
bool HttpServer::Impl::closeAnIdleConnection() {
  std::lock_guard lock(idleMutex);
  while (!idleConnections.empty()) {
    auto connection = idleConnections.front().lock();
    idleConnections.pop_front();
    if (!connection) continue;
    connection->idleEntry.reset();
    connection->closeIfIdle();
    return true;
  }
  return false;
}

void HttpServer::Impl::wakeAcceptLoop() {
  asio::post(*acceptStrand, [this] { wake->cancel(); });
}

void HttpServer::Impl::markIdle(const std::shared_ptr<IdleConnection>& connection) {
  connection->idle = true;
  {
    std::lock_guard lock(idleMutex);
    connection->idleEntry = idleConnections.insert(idleConnections.end(), connection);
  }
  // The accept loop may be waiting at the cap with nothing to close yet.
  if (open.load() >= options.maxConnections) wakeAcceptLoop();
}

void HttpServer::Impl::markBusy(IdleConnection& connection) {
  connection.idle = false;
  std::lock_guard lock(idleMutex);
  if (connection.idleEntry) idleConnections.erase(*connection.idleEntry);
  connection.idleEntry.reset();
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
  bool ready = true;
  if constexpr (IsTlsStream<std::remove_cvref_t<decltype(connection->stream)>>::value) {
    connection->setDeadline(Clock::now() + options.handshakeTimeout);
    auto [ec] = co_await connection->stream.async_handshake(asio::ssl::stream_base::server, kTuple);
    if (ec) {
      handshakeLog.warn(options.name, "TLS handshake failed: {}", ec.message());
      ready = false;
    }
  }
  if (ready) {
    try {
      co_await serveRequests(connection);
    } catch (const std::exception& e) {
      // Only allocation failures can get here; the connection is dropped, the server lives on.
      log::error(options.name, "connection aborted: {}", e.what());
    }
  }
  markBusy(*connection);
  connection->finish();
  // Not from a destructor: stop() destroys suspended connections with the io_context, when
  // nothing may be posted to it any more.
  open.fetch_sub(1, std::memory_order_relaxed);
  wakeAcceptLoop();
}

template <typename C>
asio::awaitable<void> HttpServer::Impl::serveRequests(std::shared_ptr<C> shared) {
  C& connection = *shared;
  RequestParser parser(options.limits);
  std::vector<char> buffer(kReadBufferBytes);
  size_t begin = 0;
  size_t end = 0;
  bool first = true;
  for (;;) {
    parser.reset();
    bool sentContinue = false;
    // The first request's time counts from the connection's start; a later one's from its
    // first byte, until which the connection is idle (and may be closed to make room).
    Clock::time_point start = Clock::now();
    bool idle = !first && begin == end;
    first = false;
    if (idle) {
      connection.setDeadline(start + options.idleTimeout);
      markIdle(shared);
    } else {
      connection.setDeadline(start + std::min(options.headerTimeout, options.requestTimeout));
    }
    HeadEndScanner headEnd;
    bool headDone = false;
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
        if (idle) {
          idle = false;
          markBusy(connection);
          start = Clock::now();
          connection.setDeadline(start + std::min(options.headerTimeout, options.requestTimeout));
        }
      }
      size_t used = parser.feed(std::string_view(buffer.data() + begin, end - begin));
      if (!headDone && headEnd.feed(std::string_view(buffer.data() + begin, used))) {
        // The body (if any) may take the rest of the request time.
        headDone = true;
        connection.setDeadline(start + options.requestTimeout);
      }
      begin += used;
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
      connection.setDeadline(Clock::now() + options.requestTimeout);
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
  connection.setDeadline(std::min(connection.deadline, Clock::now() + kLingerTime));
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

size_t HttpServer::connectionsOpen() const {
  return impl_->open.load(std::memory_order_relaxed);
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
  impl_->wake.reset();
  impl_->acceptStrand.reset();
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
