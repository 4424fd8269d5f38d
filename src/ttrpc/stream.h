// Byte streams that carry ttrpc frames: unix sockets, TCP, and TLS over TCP.
// A ByteStream is used from coroutines running on its executor only (see DESIGN: one
// executor per connection; blocking work is offloaded, never done on it).
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/error_code.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/ssl/context.hpp>
#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "base/error.h"

namespace pp::ttrpc {

class ByteStream {
 public:
  virtual ~ByteStream() = default;
  virtual asio::any_io_executor executor() = 0;
  // Reads at least one byte unless the stream ends (error eof) or fails.
  virtual asio::awaitable<std::pair<asio::error_code, size_t>> readSome(
      asio::mutable_buffer buf) = 0;
  // Writes every buffer completely, in order.
  virtual asio::awaitable<asio::error_code> writeAll(std::span<const asio::const_buffer> bufs) = 0;
  // Writes what the stream takes now, without waiting: how many bytes of `bufs` (from the
  // start) went out, and would_block if the rest must wait (then writeAll the rest, starting
  // at that byte); another error ends the stream.
  virtual std::pair<asio::error_code, size_t> tryWrite(
      std::span<const asio::const_buffer> bufs) = 0;
  // Closes both directions; pending reads and writes complete with an error.
  virtual void close() = 0;
  // Human-readable peer description for logs ("unix:/run/x.sock", "tcp:198.18.0.2:15150").
  virtual std::string peer() const = 0;
};

std::unique_ptr<ByteStream> wrapUnix(asio::local::stream_protocol::socket socket, std::string peer);
std::unique_ptr<ByteStream> wrapTcp(asio::ip::tcp::socket socket);

// Connects to a unix socket path.
asio::awaitable<Result<std::unique_ptr<ByteStream>>> connectUnix(asio::any_io_executor ex,
                                                                 std::string path);

// Connects to host:port over TCP; with a TLS context, performs the client handshake and checks
// that the server certificate names `serverName` (unless the context skips verification).
struct TcpTarget {
  std::string host;
  uint16_t port = 0;
  std::shared_ptr<asio::ssl::context> tls;   // null: plain TCP
  std::string serverName;                    // name the server certificate must carry
  std::chrono::milliseconds timeout{30000};  // connect + handshake
};
// `target` is taken by reference (the caller awaits the call): GCC 12 destroys by-value
// aggregate coroutine parameters twice when they are created inside a co_await expression.
asio::awaitable<Result<std::unique_ptr<ByteStream>>> connectTcp(asio::any_io_executor ex,
                                                                const TcpTarget& target);

// Server side of TLS: performs the handshake on an accepted TCP socket.
asio::awaitable<Result<std::unique_ptr<ByteStream>>> acceptTls(
    asio::ip::tcp::socket socket, std::shared_ptr<asio::ssl::context> tls,
    std::chrono::milliseconds timeout);

}  // namespace pp::ttrpc
