// Accepts connections on a unix socket or a TCP port (optionally TLS) and hands each
// connected ByteStream to a callback (typically Server::serveConnection).
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/ssl/context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "base/error.h"
#include "ttrpc/stream.h"

namespace pp::ttrpc {

using StreamCallback = std::function<void(std::unique_ptr<ByteStream>)>;

// Pre-authentication limits of a TLS listener: until its handshake completes a connection is
// anyone's, so how many there are and how long they may take is bounded.
struct TcpListenOptions {
  // Connections still in their TLS handshake. At the cap the listener stops accepting (new
  // connections wait in the kernel's backlog, costing no descriptor) until one finishes.
  size_t maxHandshakes = 64;
  std::chrono::milliseconds handshakeTimeout{std::chrono::seconds(10)};
};

class Listener {
 public:
  virtual ~Listener() = default;
  // Stops accepting; connections already handed out are not affected.
  virtual void close() = 0;
  // Bound TCP port (useful with port 0); 0 for unix sockets.
  virtual uint16_t port() const = 0;
  virtual std::string address() const = 0;
  // TLS connections accepted whose handshake has not finished yet. Any thread.
  virtual size_t pendingHandshakes() const { return 0; }
};

// Removes a stale socket file and creates the parent directory, as upstream does.
Result<std::unique_ptr<Listener>> listenUnix(asio::any_io_executor ex, const std::string& path,
                                             StreamCallback onStream);

// With a TLS context every accepted connection completes a handshake first; connections whose
// handshake fails (no or bad client certificate) or times out are logged and dropped.
Result<std::unique_ptr<Listener>> listenTcp(asio::any_io_executor ex, const std::string& host,
                                            uint16_t port, std::shared_ptr<asio::ssl::context> tls,
                                            StreamCallback onStream, TcpListenOptions options = {});

}  // namespace pp::ttrpc
