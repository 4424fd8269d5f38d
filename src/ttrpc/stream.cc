#include "ttrpc/stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <cerrno>
#include <cstdint>
#include <new>

#include "base/log.h"
#include "net/tls.h"

namespace pp::ttrpc {
namespace {

constexpr auto kUse = asio::experimental::as_tuple(asio::use_awaitable);

template <typename Socket>
class SocketStream final : public ByteStream {
 public:
  SocketStream(Socket socket, std::string peer)
      : socket_(std::move(socket)), peer_(std::move(peer)) {
    // tryWrite's sends return would_block instead of waiting (asio's own operations wait
    // either way).
    asio::error_code ignored;
    socket_.non_blocking(true, ignored);
  }

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

  std::pair<asio::error_code, size_t> tryWrite(std::span<const asio::const_buffer> bufs) override {
    size_t total = 0;
    for (;;) {
      asio::error_code ec;
      // One sendmsg takes at most 64 buffers (asio's limit): send again for the rest.
      size_t n = socket_.send(bufs, 0, ec);
      if (ec) return {ec, total};  // would_block (EAGAIN) when the socket's buffer is full
      total += n;
      while (!bufs.empty() && n >= bufs.front().size()) {
        n -= bufs.front().size();
        bufs = bufs.subspan(1);
      }
      if (bufs.empty()) return {asio::error_code(), total};
      if (n > 0) return {asio::error::would_block, total};  // the socket's buffer is full
    }
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

// OpenSSL's socket BIO writes with write(2): a peer that has gone raises SIGPIPE, which kills a
// process that does not ignore it (the adaptor, a test). This BIO is the same on our
// non-blocking descriptor, but sends with MSG_NOSIGNAL, as asio does: the write fails with
// EPIPE instead, and the stream ends with that error.
namespace nosigpipe {

int fdOf(BIO* b) {
  return static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(b)));
}

int write(BIO* b, const char* data, size_t len, size_t* written) {
  BIO_clear_retry_flags(b);
  ssize_t n = ::send(fdOf(b), data, len, MSG_NOSIGNAL);
  if (n >= 0) {
    *written = static_cast<size_t>(n);
    return 1;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_write(b);
  return 0;
}

int read(BIO* b, char* data, size_t len, size_t* got) {
  BIO_clear_retry_flags(b);
  ssize_t n = ::recv(fdOf(b), data, len, 0);
  if (n > 0) {
    *got = static_cast<size_t>(n);
    return 1;
  }
  if (n == 0) {
    BIO_set_flags(b, BIO_FLAGS_IN_EOF);  // the peer closed: OpenSSL asks BIO_eof() next
  } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
    BIO_set_retry_read(b);
  }
  return 0;
}

long ctrl(BIO* b, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;  // nothing is buffered here
    case BIO_CTRL_EOF:
      return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
    default:
      return 0;
  }
}

int create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

const BIO_METHOD* method() {
  static BIO_METHOD* m = [] {
    BIO_METHOD* meth = BIO_meth_new(
        BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "socket, MSG_NOSIGNAL");
    if (!meth) throw std::bad_alloc();
    BIO_meth_set_write_ex(meth, write);
    BIO_meth_set_read_ex(meth, read);
    BIO_meth_set_ctrl(meth, ctrl);
    BIO_meth_set_create(meth, create);
    return meth;
  }();
  return m;
}

// A BIO on fd (not owned: the socket closes it).
BIO* make(int fd) {
  BIO* b = BIO_new(method());
  if (!b) throw std::bad_alloc();
  BIO_set_data(b, reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
  return b;
}

}  // namespace nosigpipe

// TLS straight on the socket: OpenSSL reads and writes the (non-blocking) descriptor itself and
// the coroutine waits for readiness when it asks to. asio::ssl::stream would put a BIO pair and
// two record-sized buffers between them: 4 x 17 KiB per connection that stay allocated while
// the connection idles, and the adaptor keeps one connection per running pod (bench/sandboxes).
// With SSL_MODE_RELEASE_BUFFERS (net/tls.h) an idle connection then holds no record buffer.
// Reads and writes may wait at the same time (ttrpc's reader and writer); OpenSSL allows that
// on one thread, each call retried with the same arguments after a WANT_READ/WANT_WRITE.
class TlsStream final : public ByteStream {
 public:
  TlsStream(asio::ip::tcp::socket socket, std::shared_ptr<asio::ssl::context> ctx, std::string peer)
      : ctx_(std::move(ctx)),
        socket_(std::move(socket)),
        ssl_(SSL_new(ctx_->native_handle())),
        peer_(std::move(peer)) {
    if (!ssl_) throw std::bad_alloc();
    asio::error_code ignored;
    socket_.non_blocking(true, ignored);
    BIO* bio = nosigpipe::make(socket_.native_handle());
    SSL_set_bio(ssl_.get(), bio, bio);  // one reference, used for both directions
    // Partial writes: a large buffer goes out record by record, each retried after WANT_WRITE
    // from where the last one ended (so its address moves).
    SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  }

  SSL* native() { return ssl_.get(); }

  asio::awaitable<asio::error_code> handshake(bool client) {
    if (client)
      SSL_set_connect_state(ssl_.get());
    else
      SSL_set_accept_state(ssl_.get());
    for (;;) {
      if (!socket_.is_open()) co_return asio::error::bad_descriptor;
      ERR_clear_error();
      int r = SSL_do_handshake(ssl_.get());
      if (r == 1) co_return asio::error_code();
      if (auto ec = co_await waitFor(SSL_get_error(ssl_.get(), r))) co_return ec;
    }
  }

  asio::any_io_executor executor() override { return socket_.get_executor(); }

  asio::awaitable<std::pair<asio::error_code, size_t>> readSome(asio::mutable_buffer buf) override {
    for (;;) {
      // After close() the descriptor's number may already belong to another socket.
      if (!socket_.is_open())
        co_return std::pair{asio::error_code(asio::error::bad_descriptor), size_t{0}};
      size_t n = 0;
      ERR_clear_error();
      if (SSL_read_ex(ssl_.get(), buf.data(), buf.size(), &n) == 1)
        co_return std::pair{asio::error_code(), n};
      int err = SSL_get_error(ssl_.get(), 0);
      // SSL_MODE_RELEASE_BUFFERS is not enough: measured in the adaptor (bench/sandboxes,
      // massif), OpenSSL 3.0 kept a 16 KiB record buffer on most idle client connections
      // after their read would block. SSL_free_buffers frees nothing while a record is half read.
      if (err == SSL_ERROR_WANT_READ) SSL_free_buffers(ssl_.get());
      if (auto ec = co_await waitFor(err)) co_return std::pair{ec, size_t{0}};
    }
  }

  asio::awaitable<asio::error_code> writeAll(std::span<const asio::const_buffer> bufs) override {
    if (coalesce(bufs)) {
      auto ec = co_await writeOne(asio::buffer(scratch_));
      releaseScratch();
      co_return ec;
    }
    for (const auto& b : bufs) {
      if (auto ec = co_await writeOne(b)) co_return ec;
    }
    co_return asio::error_code();
  }

  std::pair<asio::error_code, size_t> tryWrite(std::span<const asio::const_buffer> bufs) override {
    if (coalesce(bufs)) {
      auto result = writeNow(scratch_.data(), scratch_.size());
      releaseScratch();
      return result;
    }
    size_t done = 0;
    for (const auto& b : bufs) {
      auto [ec, n] = writeNow(static_cast<const char*>(b.data()), b.size());
      done += n;
      if (ec) return {ec, done};
    }
    return {asio::error_code(), done};
  }

  void close() override {
    asio::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  std::string peer() const override { return peer_; }

 private:
  struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
  };

  asio::awaitable<asio::error_code> writeOne(asio::const_buffer b) {
    const char* data = static_cast<const char*>(b.data());
    size_t left = b.size();
    for (;;) {
      int want = 0;
      auto [ec, n] = writeNow(data, left, &want);
      data += n;
      left -= n;
      if (ec != asio::error::would_block) co_return ec;
      if (auto waited = co_await waitFor(want)) co_return waited;
    }
  }

  // One buffer sequence would be one record per buffer: a batch of small frames is copied into
  // scratch_ first (returns true) so it costs one record.
  bool coalesce(std::span<const asio::const_buffer> bufs) {
    size_t total = 0;
    for (const auto& b : bufs) total += b.size();
    if (bufs.size() < 2 || total > 64 * 1024) return false;
    scratch_.clear();
    scratch_.reserve(total);
    for (const auto& b : bufs) scratch_.append(static_cast<const char*>(b.data()), b.size());
    return true;
  }

  void releaseScratch() {
    // Idle connections keep no copy buffer beyond a few frames' worth.
    if (scratch_.capacity() > 8 * 1024)
      std::string().swap(scratch_);
    else
      scratch_.clear();
  }

  // SSL_write_ex until `len` bytes are out or the socket would block (a record that did not
  // go out whole is retried by writeAll with the same bytes, as OpenSSL requires); on
  // would_block, `want` gets what OpenSSL waits for (SSL_ERROR_WANT_WRITE or _READ).
  std::pair<asio::error_code, size_t> writeNow(const char* data, size_t len, int* want = nullptr) {
    size_t done = 0;
    while (done < len) {
      if (!socket_.is_open()) return {asio::error::bad_descriptor, done};
      size_t n = 0;
      ERR_clear_error();
      if (SSL_write_ex(ssl_.get(), data + done, len - done, &n) == 1) {
        done += n;
        continue;
      }
      int err = SSL_get_error(ssl_.get(), 0);
      if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
        if (want) *want = err;
        return {asio::error::would_block, done};
      }
      return {failure(err), done};
    }
    return {asio::error_code(), done};
  }

  // After an SSL call that did not complete: waits until the socket is ready for what OpenSSL
  // asked (no error), or returns why the stream is done.
  asio::awaitable<asio::error_code> waitFor(int sslError) {
    switch (sslError) {
      case SSL_ERROR_WANT_READ: {
        auto [ec] = co_await socket_.async_wait(asio::ip::tcp::socket::wait_read, kUse);
        co_return ec;
      }
      case SSL_ERROR_WANT_WRITE: {
        auto [ec] = co_await socket_.async_wait(asio::ip::tcp::socket::wait_write, kUse);
        co_return ec;
      }
      default:
        co_return failure(sslError);
    }
  }

  // Why the stream is done after an SSL call failed with `sslError` (not WANT_*).
  static asio::error_code failure(int sslError) {
    switch (sslError) {
      case SSL_ERROR_ZERO_RETURN:  // close_notify
        return asio::error::eof;
      case SSL_ERROR_SYSCALL: {
        int err = errno;
        ERR_clear_error();
        // No errno: the peer closed the TCP connection.
        return err ? asio::error_code(err, asio::system_category())
                   : asio::error_code(asio::error::eof);
      }
      default: {
        unsigned long code = ERR_peek_last_error();
        ERR_clear_error();
        // A peer that closes without close_notify (as most do) ends the stream like EOF.
        if (ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) return asio::error::eof;
        if (code == 0) return asio::error::connection_aborted;
        return asio::error_code(static_cast<int>(code), asio::error::get_ssl_category());
      }
    }
  }

  std::shared_ptr<asio::ssl::context> ctx_;  // must outlive the SSL object
  asio::ip::tcp::socket socket_;
  std::unique_ptr<SSL, SslFree> ssl_;
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
  SSL* ssl = stream->native();
  if (!target.serverName.empty()) {
    // The name the certificate must carry (DNS or IP SAN) and, for host names, the SNI.
    if (auto st = net::setExpectedServerName(ssl, target.serverName); !st) {
      co_return fail(st.error().wrap("TLS with " + where));
    }
  }
  asio::error_code hec;
  inTime = co_await withTimeout(
      ex, target.timeout,
      [&]() -> asio::awaitable<void> { hec = co_await stream->handshake(true); },
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
      ex, timeout, [&]() -> asio::awaitable<void> { hec = co_await stream->handshake(false); },
      [&] { stream->close(); });
  if (!inTime)
    co_return fail(Code::kDeadlineExceeded, "TLS handshake from " + peer + ": timed out");
  if (hec)
    co_return fail(Code::kUnauthenticated, "TLS handshake from " + peer + ": " + hec.message());
  co_return std::unique_ptr<ByteStream>(std::move(stream));
}

}  // namespace pp::ttrpc
