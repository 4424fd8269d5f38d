#include "ttrpc/stream.h"

#include <openssl/ssl.h>

#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "base/log.h"
#include "net/tls.h"

namespace pp::ttrpc {
namespace {

constexpr auto kUse = asio::experimental::as_tuple(asio::use_awaitable);

template <typename Socket>
class SocketStream final : public ByteStream {
 public:
  SocketStream(Socket socket, std::string peer)
      : socket_(std::move(socket)), peer_(std::move(peer)) {}

  asio::any_io_executor executor() override { return socket_.get_executor(); }

  asio::awaitable<std::pair<asio::error_code, size_t>> readSome(asio::mutable_buffer buf) override {
    auto [ec, n] = co_await socket_.async_read_some(buf, kUse);
    co_return std::pair{ec, n};
  }

  asio::awaitable<asio::error_code> writeAll(std::span<const asio::const_buffer> bufs) override {
    auto [ec, n] = co_await asio::async_write(socket_, bufs, kUse);
    (void)n;
    co_return ec;
  }

  void close() override {
    asio::error_code ignored;
    socket_.shutdown(Socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  std::string peer() const override { return peer_; }

 private:
  Socket socket_;
  std::string peer_;
};

class TlsStream final : public ByteStream {
 public:
  TlsStream(asio::ip::tcp::socket socket, std::shared_ptr<asio::ssl::context> ctx, std::string peer)
      : ctx_(std::move(ctx)), stream_(std::move(socket), *ctx_), peer_(std::move(peer)) {}

  asio::ssl::stream<asio::ip::tcp::socket>& ssl() { return stream_; }

  asio::any_io_executor executor() override { return stream_.get_executor(); }

  asio::awaitable<std::pair<asio::error_code, size_t>> readSome(asio::mutable_buffer buf) override {
    auto [ec, n] = co_await stream_.async_read_some(buf, kUse);
    co_return std::pair{ec, n};
  }

  asio::awaitable<asio::error_code> writeAll(std::span<const asio::const_buffer> bufs) override {
    // SSL streams write one buffer sequence per record; coalesce small frames first so a
    // batch of frames costs one record, not one per frame.
    size_t total = 0;
    for (const auto& b : bufs) total += b.size();
    if (bufs.size() > 1 && total <= 64 * 1024) {
      scratch_.clear();
      scratch_.reserve(total);
      for (const auto& b : bufs) scratch_.append(static_cast<const char*>(b.data()), b.size());
      auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(scratch_), kUse);
      (void)n;
      co_return ec;
    }
    auto [ec, n] = co_await asio::async_write(stream_, bufs, kUse);
    (void)n;
    co_return ec;
  }

  void close() override {
    asio::error_code ignored;
    stream_.lowest_layer().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream_.lowest_layer().close(ignored);
  }

  std::string peer() const override { return peer_; }

 private:
  std::shared_ptr<asio::ssl::context> ctx_;  // must outlive the stream
  asio::ssl::stream<asio::ip::tcp::socket> stream_;
  std::string peer_;
  std::string scratch_;
};

std::string describe(const asio::ip::tcp::socket& s) {
  asio::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "tcp:?";
  return "tcp:" + ep.address().to_string() + ":" + std::to_string(ep.port());
}

// Runs `op` with a deadline: closes `closeOnTimeout` when the timer fires first.
template <typename Op, typename Closer>
asio::awaitable<bool> withTimeout(asio::any_io_executor ex, std::chrono::milliseconds timeout,
                                  Op op, Closer closer) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(ex, timeout);
  auto result = co_await (std::move(op)() || timer.async_wait(kUse));
  if (result.index() == 1) {
    closer();
    co_return false;
  }
  co_return true;
}

}  // namespace

std::unique_ptr<ByteStream> wrapUnix(asio::local::stream_protocol::socket socket,
                                     std::string peer) {
  return std::make_unique<SocketStream<asio::local::stream_protocol::socket>>(std::move(socket),
                                                                              std::move(peer));
}

std::unique_ptr<ByteStream> wrapTcp(asio::ip::tcp::socket socket) {
  asio::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  auto peer = describe(socket);
  return std::make_unique<SocketStream<asio::ip::tcp::socket>>(std::move(socket), std::move(peer));
}

asio::awaitable<Result<std::unique_ptr<ByteStream>>> connectUnix(asio::any_io_executor ex,
                                                                 std::string path) {
  if (path.size() >= 108)
    co_return fail(Code::kInvalidArgument, "unix socket path " + path + " is too long");
  asio::local::stream_protocol::socket socket(ex);
  auto [ec] = co_await socket.async_connect(asio::local::stream_protocol::endpoint(path), kUse);
  if (ec) {
    co_return fail(Code::kUnavailable, "connect to unix socket " + path + ": " + ec.message());
  }
  co_return wrapUnix(std::move(socket), "unix:" + path);
}

asio::awaitable<Result<std::unique_ptr<ByteStream>>> connectTcp(asio::any_io_executor ex,
                                                                const TcpTarget& target) {
  const std::string where = target.host + ":" + std::to_string(target.port);
  asio::ip::tcp::resolver resolver(ex);
  auto [rec, endpoints] =
      co_await resolver.async_resolve(target.host, std::to_string(target.port), kUse);
  if (rec) co_return fail(Code::kUnavailable, "resolve " + where + ": " + rec.message());

  asio::ip::tcp::socket socket(ex);
  asio::error_code cec;
  bool inTime = co_await withTimeout(
      ex, target.timeout,
      [&]() -> asio::awaitable<void> {
        auto [ec, ep] = co_await asio::async_connect(socket, endpoints, kUse);
        (void)ep;
        cec = ec;
      },
      [&] {
        asio::error_code ignored;
        socket.close(ignored);
      });
  if (!inTime) co_return fail(Code::kDeadlineExceeded, "connect to " + where + ": timed out");
  if (cec) co_return fail(Code::kUnavailable, "connect to " + where + ": " + cec.message());
  socket.set_option(asio::ip::tcp::no_delay(true), cec);

  if (!target.tls) co_return wrapTcp(std::move(socket));

  auto peer = "tls:" + where;
  auto stream = std::make_unique<TlsStream>(std::move(socket), target.tls, peer);
  SSL* ssl = stream->ssl().native_handle();
  if (!target.serverName.empty()) {
    // The name the certificate must carry (DNS or IP SAN) and, for host names, the SNI.
    if (auto st = net::prepareClientStream(stream->ssl(), target.serverName); !st) {
      co_return fail(st.error().wrap("TLS with " + where));
    }
  }
  asio::error_code hec;
  inTime = co_await withTimeout(
      ex, target.timeout,
      [&]() -> asio::awaitable<void> {
        auto [ec] = co_await stream->ssl().async_handshake(asio::ssl::stream_base::client, kUse);
        hec = ec;
      },
      [&] { stream->close(); });
  if (!inTime)
    co_return fail(Code::kDeadlineExceeded, "TLS handshake with " + where + ": timed out");
  if (hec) {
    std::string detail = hec.message();
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK)
      detail += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
    co_return fail(Code::kUnavailable, "TLS handshake with " + where + ": " + detail);
  }
  co_return std::unique_ptr<ByteStream>(std::move(stream));
}

asio::awaitable<Result<std::unique_ptr<ByteStream>>> acceptTls(
    asio::ip::tcp::socket socket, std::shared_ptr<asio::ssl::context> tls,
    std::chrono::milliseconds timeout) {
  asio::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  auto ex = socket.get_executor();
  auto peer = "tls:" + describe(socket).substr(4);
  auto stream = std::make_unique<TlsStream>(std::move(socket), std::move(tls), peer);
  asio::error_code hec;
  bool inTime = co_await withTimeout(
      ex, timeout,
      [&]() -> asio::awaitable<void> {
        auto [ec] = co_await stream->ssl().async_handshake(asio::ssl::stream_base::server, kUse);
        hec = ec;
      },
      [&] { stream->close(); });
  if (!inTime)
    co_return fail(Code::kDeadlineExceeded, "TLS handshake from " + peer + ": timed out");
  if (hec)
    co_return fail(Code::kUnauthenticated, "TLS handshake from " + peer + ": " + hec.message());
  co_return std::unique_ptr<ByteStream>(std::move(stream));
}

}  // namespace pp::ttrpc
