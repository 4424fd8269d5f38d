// AgentProxy: per sandbox, a ttrpc server on <pods-dir>/<id>/agent.ttrpc that relays every
// agent call to the agent-protocol-forwarder in the pod VM (TCP, mutual TLS).
//
// Calls are routed by service/method and relayed as bytes, so RPCs we do not know (newer
// kata versions) keep working; only CreateContainer is decoded and edited (CSI target paths
// and the CDI GPU annotation, as upstream). While the forwarder's connection is up, the other
// calls' frames are passed on without being decoded (ttrpc::Route). Unlike upstream, a dropped
// upstream connection is re-dialled by the next call (ttrpc::Redialer).
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ssl/context.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>

#include "adaptor/container_edit.h"
#include "base/error.h"
#include "ttrpc/client.h"
#include "ttrpc/listener.h"
#include "ttrpc/redialer.h"
#include "ttrpc/server.h"

namespace pp::adaptor {

struct AgentProxyOptions {
  std::string sandboxId;
  std::string socketPath;  // <pods-dir>/<id>/agent.ttrpc
  std::string vmHost;
  uint16_t vmPort = 15150;
  std::shared_ptr<asio::ssl::context> tls;  // null: plain TCP (-disable-tls)
  std::string serverName;                   // expected name in the forwarder's certificate
  std::chrono::milliseconds proxyTimeout{std::chrono::minutes(5)};
  std::string directVolumesDir = "/run/kata-containers/shared/direct-volumes";
};

class AgentProxy : public std::enable_shared_from_this<AgentProxy> {
 public:
  static std::shared_ptr<AgentProxy> create(asio::any_io_executor ex, AgentProxyOptions options);
  ~AgentProxy();

  // Starts listening and dialling. The future is ready once the first upstream connection
  // exists (OK) or when it could not be made by `readyBy` / within the proxy timeout (error).
  // Callable from any thread.
  std::future<Status> start(std::chrono::steady_clock::time_point readyBy);

  // Listens without waiting for the upstream (used when reattaching after a restart: the VM
  // is known to exist and the first agent call dials it).
  std::future<Status> listenOnly();

  // Stops listening, closes the shim's connections and the upstream. Callable from any thread;
  // waits until done.
  void shutdown();

  // Number of times the upstream connection was established (tests, logs).
  int connectCount() const { return upstream_.connects(); }

 private:
  AgentProxy(asio::any_io_executor ex, AgentProxyOptions options);
  asio::awaitable<Status> listenCo();
  asio::awaitable<Status> startCo(std::chrono::steady_clock::time_point readyBy);
  asio::awaitable<Result<std::unique_ptr<ttrpc::ByteStream>>> dial(
      std::chrono::steady_clock::time_point deadline);
  static asio::awaitable<Result<std::string>> relayWeak(std::weak_ptr<AgentProxy> weak,
                                                        const ttrpc::CallContext& ctx,
                                                        std::string payload, bool createContainer);

  asio::any_io_executor ex_;
  AgentProxyOptions options_;
  ttrpc::Server server_;
  std::unique_ptr<ttrpc::Listener> listener_;
  ttrpc::Redialer upstream_;  // the pod VM's forwarder
  std::atomic<bool> connectedBefore_{false};
  bool stopped_ = false;
  // The first connection's dials, for the log line that splits the wait for the forwarder into
  // the guest's part and ours (the pause between a refused dial and the next one).
  int dials_ = 0;
  std::chrono::steady_clock::time_point firstDialAt_, lastDialAt_, lastFailedAt_;
  std::chrono::milliseconds reconnectPause_{0};  // before the next redial of a lost connection
  asio::steady_timer reconnectTimer_;
};

}  // namespace pp::adaptor
