#include "ttrpc/listener.h"

#include <sys/stat.h>
#include <sys/un.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <filesystem>
#include <optional>

#include "base/accept_backoff.h"
#include "base/log.h"

namespace pp::ttrpc {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
constexpr auto kUse = asio::experimental::as_tuple(asio::use_awaitable);

class UnixListener final : public Listener, public std::enable_shared_from_this<UnixListener> {
 public:
  UnixListener(asio::local::stream_protocol::acceptor acceptor, std::string path, StreamCallback cb)
      : acceptor_(std::move(acceptor)),
        path_(std::move(path)),
        onStream_(std::move(cb)),
        retry_(acceptor_.get_executor()) {}

  static asio::awaitable<void> acceptLoop(std::shared_ptr<UnixListener> self) {
    while (self->acceptor_.is_open()) {
      auto [ec, socket] = co_await self->acceptor_.async_accept(kUse);
      if (ec) {
        if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) break;
        self->retry_.expires_after(self->backoff_.onError(ec, "ttrpc", self->path_));
        co_await self->retry_.async_wait(kUse);
        continue;
      }
      self->backoff_.onSuccess();
      self->onStream_(wrapUnix(std::move(socket), "unix:" + self->path_));
    }
  }

  void close() override {
    asio::error_code ignored;
    acceptor_.close(ignored);
    retry_.cancel();
  }
  uint16_t port() const override { return 0; }
  std::string address() const override { return path_; }

 private:
  asio::local::stream_protocol::acceptor acceptor_;
  std::string path_;
  StreamCallback onStream_;
  AcceptBackoff backoff_;
  asio::steady_timer retry_;
};

class TcpListener final : public Listener, public std::enable_shared_from_this<TcpListener> {
 public:
  TcpListener(asio::ip::tcp::acceptor acceptor, std::shared_ptr<asio::ssl::context> tls,
              StreamCallback cb, TcpListenOptions options)
      : acceptor_(std::move(acceptor)),
        tls_(std::move(tls)),
        onStream_(std::move(cb)),
        options_(options),
        wake_(acceptor_.get_executor()) {
    asio::error_code ec;
    auto ep = acceptor_.local_endpoint(ec);
    if (!ec) {
      port_ = ep.port();
      address_ = ep.address().to_string() + ":" + std::to_string(port_);
    }
  }

  static asio::awaitable<void> acceptLoop(std::shared_ptr<TcpListener> self) {
    while (self->acceptor_.is_open()) {
      if (self->tls_ && self->handshakes_ >= self->options_.maxHandshakes) {
        // At the cap of unauthenticated connections: a finished handshake wakes us.
        self->wake_.expires_at(Clock::time_point::max());
        co_await self->wake_.async_wait(kUse);
        continue;
      }
      auto [ec, socket] = co_await self->acceptor_.async_accept(kUse);
      if (ec) {
        if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) break;
        self->wake_.expires_after(self->backoff_.onError(ec, "ttrpc", self->address_));
        co_await self->wake_.async_wait(kUse);
        continue;
      }
      self->backoff_.onSuccess();
      if (!self->tls_) {
        self->onStream_(wrapTcp(std::move(socket)));
        continue;
      }
      ++self->handshakes_;
      asio::co_spawn(self->acceptor_.get_executor(), handshake(self, std::move(socket)),
                     asio::detached);
    }
  }

  static asio::awaitable<void> handshake(std::shared_ptr<TcpListener> self,
                                         asio::ip::tcp::socket socket) {
    auto stream =
        co_await acceptTls(std::move(socket), self->tls_, self->options_.handshakeTimeout);
    --self->handshakes_;
    self->wake_.cancel();
    if (!stream) {
      self->rejected_.warn("ttrpc", "rejected connection on {}: {}", self->address_,
                           stream.error().message);
      co_return;
    }
    self->onStream_(std::move(*stream));
  }

  void close() override {
    asio::error_code ignored;
    acceptor_.close(ignored);
    wake_.cancel();
  }
  uint16_t port() const override { return port_; }
  std::string address() const override { return address_; }
  size_t pendingHandshakes() const override { return handshakes_; }

 private:
  asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<asio::ssl::context> tls_;
  StreamCallback onStream_;
  TcpListenOptions options_;
  uint16_t port_ = 0;
  std::string address_;
  std::atomic<size_t> handshakes_ = 0;
  asio::steady_timer wake_;  // accept back-off, or a free handshake slot
  AcceptBackoff backoff_;
  log::RateLimitedWarning rejected_;
};

}  // namespace

Result<std::unique_ptr<Listener>> listenUnix(asio::any_io_executor ex, const std::string& path,
                                             StreamCallback onStream) {
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return fail(Code::kInvalidArgument, "unix socket path " + path + " is longer than " +
                                            std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) +
                                            " bytes");
  }
  std::error_code fec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, fec);
  if (fec)
    return fail(Code::kInternal, "create directory " + parent.string() + ": " + fec.message());
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return fail(Code::kFailedPrecondition, path + " exists and is not a socket; not removing it");
    }
    std::filesystem::remove(path, fec);
  }
  asio::local::stream_protocol::acceptor acceptor(ex);
  asio::error_code ec;
  acceptor.open(asio::local::stream_protocol(), ec);
  if (!ec) acceptor.bind(asio::local::stream_protocol::endpoint(path), ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail(Code::kUnavailable, "listen on unix socket " + path + ": " + ec.message());
  auto l = std::make_shared<UnixListener>(std::move(acceptor), path, std::move(onStream));
  asio::co_spawn(ex, UnixListener::acceptLoop(l), asio::detached);
  struct Handle final : Listener {
    std::shared_ptr<UnixListener> l;
    asio::any_io_executor ex;
    ~Handle() override { close(); }
    void close() override {
      asio::post(ex, [l = l] { l->close(); });
    }
    uint16_t port() const override { return 0; }
    std::string address() const override { return l->address(); }
  };
  auto h = std::make_unique<Handle>();
  h->l = l;
  h->ex = ex;
  return std::unique_ptr<Listener>(std::move(h));
}

Result<std::unique_ptr<Listener>> listenTcp(asio::any_io_executor ex, const std::string& host,
                                            uint16_t port, std::shared_ptr<asio::ssl::context> tls,
                                            StreamCallback onStream, TcpListenOptions options) {
  asio::error_code ec;
  auto addr = asio::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  if (ec) return fail(Code::kInvalidArgument, "bad listen address " + host + ": " + ec.message());
  asio::ip::tcp::acceptor acceptor(ex);
  asio::ip::tcp::endpoint ep(addr, port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return fail(Code::kUnavailable,
                "listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
  }
  auto l = std::make_shared<TcpListener>(std::move(acceptor), std::move(tls), std::move(onStream),
                                         options);
  asio::co_spawn(ex, TcpListener::acceptLoop(l), asio::detached);
  struct Handle final : Listener {
    std::shared_ptr<TcpListener> l;
    asio::any_io_executor ex;
    ~Handle() override { close(); }
    void close() override {
      asio::post(ex, [l = l] { l->close(); });
    }
    uint16_t port() const override { return l->port(); }
    std::string address() const override { return l->address(); }
    size_t pendingHandshakes() const override { return l->pendingHandshakes(); }
  };
  auto h = std::make_unique<Handle>();
  h->l = l;
  h->ex = ex;
  return std::unique_ptr<Listener>(std::move(h));
}

}  // namespace pp::ttrpc
