#include "peerpod_ctrl/daemon.h"

#include <fmt/format.h>
#include <openssl/rand.h>
#include <unistd.h>

#include "base/log.h"
#include "k8s/leader_election.h"

namespace pp::peerpod_ctrl {
namespace {

constexpr char kLog[] = "peerpod-ctrl";

net::ServerResponse text(int status, std::string body,
                         std::string type = "text/plain; charset=utf-8") {
  return net::ServerResponse{status, {{"Content-Type", std::move(type)}}, std::move(body)};
}

// <hostname>_<8 random hex digits>, as controller-runtime names a Lease holder.
std::string leaseIdentity() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  unsigned char random[4] = {};
  if (RAND_bytes(random, sizeof random) != 1) random[0] = random[1] = random[2] = random[3] = 0;
  return fmt::format("{}_{:02x}{:02x}{:02x}{:02x}", host, random[0], random[1], random[2],
                     random[3]);
}

}  // namespace

Daemon::Daemon(std::shared_ptr<const k8s::Client> client, DaemonOptions options)
    : client_(std::move(client)),
      options_(std::move(options)),
      controller_(client_, options_.controller),
      standby_(options_.leaderElect) {}

Daemon::~Daemon() {
  stop();
}

Status Daemon::start() {
  if (options_.probe) {
    auto o = *options_.probe;
    o.name = "probes";
    auto s = net::HttpServer::start(o, [this](const net::ServerRequest& r) {
      if (r.path == "/healthz") return text(200, "ok\n");
      if (r.path == "/readyz") {
        return controller_.ready() || standby_ ? text(200, "ok\n")
                                               : text(500, "not ready: PeerPods not listed yet\n");
      }
      return text(404, "not found\n");
    });
    if (!s) return fail(s.error().wrap("health probe server"));
    probeServer_ = std::move(*s);
    log::info(kLog, "health probes on {}:{} (/healthz, /readyz)", o.host, probeServer_->port());
  }
  if (options_.metrics) {
    auto o = *options_.metrics;
    o.name = "metrics";
    auto s = net::HttpServer::start(o, [this](const net::ServerRequest& r) {
      if (r.path == "/metrics")
        return text(200, controller_.metricsText(), "text/plain; version=0.0.4; charset=utf-8");
      return text(404, "not found\n");
    });
    if (!s) return fail(s.error().wrap("metrics server"));
    metricsServer_ = std::move(*s);
    log::info(kLog, "metrics on {}:{}/metrics", o.host, metricsServer_->port());
  }
  runner_ = std::jthread([this](std::stop_token stop) { runController(stop); });
  return {};
}

void Daemon::runController(std::stop_token stop) {
  if (!options_.leaderElect) {
    controller_.run(stop);
    return;
  }
  k8s::LeaderElector elector(*client_, {.ns = options_.controller.configNamespace,
                                        .name = "33f6c5d6.confidentialcontainers.org",
                                        .identity = leaseIdentity()});
  if (!elector.acquire(stop)) return;
  standby_ = false;
  bool kept;
  {
    std::jthread work([this](std::stop_token s) { controller_.run(s); });
    kept = elector.hold(stop);
  }
  if (kept) {
    elector.release();
    return;
  }
  // As controller-runtime: a leader that lost its Lease exits, and a new replica takes over.
  log::error(kLog, "leader election lost; exiting");
  lostLeadership_ = true;
  if (options_.onLeadershipLost) options_.onLeadershipLost();
}

void Daemon::stop() {
  if (runner_.joinable()) {
    runner_.request_stop();
    runner_.join();
  }
  if (metricsServer_) metricsServer_->stop();
  if (probeServer_) probeServer_->stop();
}

}  // namespace pp::peerpod_ctrl
