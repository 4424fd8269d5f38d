// Accepts connections on a unix socket or a TCP port (optionally TLS) and hands each
// connected ByteStream to a callback (typically Server::serveConnection).
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/ssl/context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "base/error.h"
#include "ttrpc/stream.h"

namespace pp::ttrpc {

using StreamCallback = std::function<void(std::unique_ptr<ByteStream>)>;

class Listener {
 public:
  virtual ~Listener() = default;
  // Stops accepting; connections already handed out are not affected.
  virtual void close() = 0;
  // Bound TCP port (useful with port 0); 0 for unix sockets.
  virtual uint16_t port() const = 0;
  virtual std::string address() const = 0;
};

// Removes a stale socket file and creates the parent directory, as upstream does.
Result<std::unique_ptr<Listener>> listenUnix(asio::any_io_executor ex, const std::string& path,
                                             StreamCallback onStream);

// With a TLS context every accepted connection completes a handshake first; connections whose
// handshake fails (no or bad client certificate) are logged and dropped.
Result<std::unique_ptr<Listener>> listenTcp(asio::any_io_executor ex, const std::string& host,
                                            uint16_t port, std::shared_ptr<asio::ssl::context> tls,
                                            StreamCallback onStream);

}  // namespace pp::ttrpc
