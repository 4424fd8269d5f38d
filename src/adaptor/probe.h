// The /startup probe (upstream pkg/probe): HTTP on PROBE_PORT answering 200 once the
// hypervisor socket accepts connections and, in Kubernetes, the node's peer pods are Ready
// (see PeerPodsReadiness), 500 before; once it succeeded it stays successful, as upstream.
// GET /metrics answers the process's metrics (base/metrics.h, Prometheus text format; see
// docs/metrics.md). Every other path is 404, other methods 405. The answer carries no details (the
// reason is logged when it changes). It listens on 127.0.0.1 only, as upstream's chart probes it
// (`host: 127.0.0.1`; the DaemonSet shares the node's network). Served by net::HttpServer
// (bounded, deadlines, connection cap) on its own thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "base/error.h"
#include "net/http_server.h"

namespace pp::adaptor {

class StartupProbe {
 public:
  // `podsNotReady`, when given, must not block: it returns why the node's peer pods are not
  // ready yet, or "" when they are. Port 0 picks a free port.
  static Result<std::unique_ptr<StartupProbe>> start(
      uint16_t port, std::string hypervisorSocket, std::function<std::string()> podsNotReady = {});
  ~StartupProbe();

  uint16_t port() const { return server_->port(); }
  // "http://127.0.0.1:<port>".
  std::string baseUrl() const { return server_->baseUrl(); }
  void stop();
  // Why the last /startup answer was 500 ("" after a 200). The answer itself only says "not
  // ready": the reason names pods and paths.
  std::string lastNotReadyReason() const;

 private:
  StartupProbe(std::string socket, std::function<std::string()> podsNotReady)
      : socket_(std::move(socket)), podsNotReady_(std::move(podsNotReady)) {}
  net::ServerResponse handle(const net::ServerRequest& request);
  // "" when ready, else the reason. Called with mu_ held.
  std::string notReadyReason();

  const std::string socket_;
  const std::function<std::string()> podsNotReady_;
  std::unique_ptr<net::HttpServer> server_;
  mutable std::mutex mu_;
  bool readyOnce_ = false;  // upstream checks until the first success, then caches it
  std::string lastReason_;
};

}  // namespace pp::adaptor
