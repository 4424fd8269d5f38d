// The /startup probe (upstream pkg/probe): HTTP on PROBE_PORT answering 200 once the
// hypervisor socket accepts connections, 500 before. (Upstream additionally waits for the
// node's peer pods to be Ready when it runs in Kubernetes; that part comes with the Kubernetes
// integration.) Every other path is 404. One small request per connection, bounded reads.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "base/error.h"

namespace pp::adaptor {

class StartupProbe : public std::enable_shared_from_this<StartupProbe> {
 public:
  static Result<std::shared_ptr<StartupProbe>> start(asio::any_io_executor ex, const std::string& host,
                                                     uint16_t port, std::string hypervisorSocket);
  uint16_t port() const { return port_; }
  void stop();

 private:
  StartupProbe(asio::ip::tcp::acceptor acceptor, std::string socket)
      : acceptor_(std::move(acceptor)), socket_(std::move(socket)) {}
  static asio::awaitable<void> acceptLoop(std::shared_ptr<StartupProbe> self);
  static asio::awaitable<void> serve(std::shared_ptr<StartupProbe> self, asio::ip::tcp::socket s);
  asio::awaitable<bool> ready();

  asio::ip::tcp::acceptor acceptor_;
  std::string socket_;
  uint16_t port_ = 0;
  bool readyOnce_ = false;  // upstream checks until the first success, then caches it
};

}  // namespace pp::adaptor
