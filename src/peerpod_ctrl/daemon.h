// The peerpod-ctrl daemon: the Controller, behind leader election when asked, and its probe and
// metrics servers, wired as cmd/peerpod-ctrl's flags describe them.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "base/error.h"
#include "k8s/client.h"
#include "net/http_server.h"
#include "peerpod_ctrl/controller.h"

namespace pp::peerpod_ctrl {

struct DaemonOptions {
  ControllerOptions controller;
  // /healthz and /readyz; /metrics. Unset = not served.
  std::optional<net::HttpServerOptions> probe;
  std::optional<net::HttpServerOptions> metrics;
  // Work only while holding Lease 33f6c5d6.confidentialcontainers.org in
  // controller.configNamespace, as upstream's controller-runtime manager.
  bool leaderElect = false;
  // Called once, from the daemon's thread, when the Lease is lost (main stops the process).
  std::function<void()> onLeadershipLost;
};

class Daemon {
 public:
  Daemon(std::shared_ptr<const k8s::Client> client, DaemonOptions options);
  ~Daemon();

  // Starts the servers, then the controller. Errors name the server that could not start.
  Status start();
  // Stops the controller (releasing the Lease) and the servers.
  void stop();
  bool lostLeadership() const { return lostLeadership_.load(); }

 private:
  void runController(std::stop_token stop);

  std::shared_ptr<const k8s::Client> client_;
  DaemonOptions options_;
  Controller controller_;
  // With leader election a replica waiting for the Lease is ready (it is healthy), as with
  // controller-runtime; the leader is ready once it has listed the PeerPods.
  std::atomic<bool> standby_;
  std::atomic<bool> lostLeadership_{false};
  std::unique_ptr<net::HttpServer> probeServer_, metricsServer_;
  std::jthread runner_;
};

}  // namespace pp::peerpod_ctrl
