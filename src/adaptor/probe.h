// The /startup probe (upstream pkg/probe): HTTP on PROBE_PORT answering 200 once the
// hypervisor socket accepts connections and, in Kubernetes, the node's peer pods are Ready
// (see PeerPodsReadiness), 500 before; once it succeeded it stays successful, as upstream.
// Every other path is 404. One small request per connection, bounded reads. The answer carries
// no details (the reason is logged when it changes); the daemon listens on 127.0.0.1 only, as
// upstream's chart probes it (`host: 127.0.0.1`).
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "base/error.h"

namespace pp::adaptor {

class StartupProbe : public std::enable_shared_from_this<StartupProbe> {
 public:
  // `podsNotReady`, when given, must not block: it returns why the node's peer pods are not
  // ready yet, or "" when they are.
  static Result<std::shared_ptr<StartupProbe>> start(
      asio::any_io_executor ex, const std::string& host, uint16_t port,
      std::string hypervisorSocket, std::function<std::string()> podsNotReady = {});
  uint16_t port() const { return port_; }
  void stop();
  // Why the last /startup answer was 500 ("" after a 200). The answer itself only says "not
  // ready": the reason names pods and paths, and the probe port is reachable from the node.
  std::string lastNotReadyReason() const;

 private:
  StartupProbe(asio::ip::tcp::acceptor acceptor, std::string socket)
      : acceptor_(std::move(acceptor)), socket_(std::move(socket)) {}
  static asio::awaitable<void> acceptLoop(std::shared_ptr<StartupProbe> self);
  static asio::awaitable<void> serve(std::shared_ptr<StartupProbe> self, asio::ip::tcp::socket s);
  // "" when ready, else the reason.
  asio::awaitable<std::string> notReadyReason();

  asio::ip::tcp::acceptor acceptor_;
  std::string socket_;
  std::function<std::string()> podsNotReady_;
  uint16_t port_ = 0;
  bool readyOnce_ = false;  // upstream checks until the first success, then caches it
  mutable std::mutex reasonMu_;
  std::string lastReason_;
};

}  // namespace pp::adaptor
