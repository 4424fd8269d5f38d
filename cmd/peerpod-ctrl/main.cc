// peerpod-ctrl: deletes the cloud instance of every PeerPod whose finalizer the adaptor left
// behind, removes stale duplicate PeerPods and sweeps for orphan instances. Flags follow
// upstream's controller (controller-runtime manager flags) where it has them.
#include <openssl/rand.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "base/flags.h"
#include "base/log.h"
#include "base/log_flag.h"
#include "k8s/client.h"
#include "k8s/leader_election.h"
#include "net/http_server.h"
#include "peerpod_ctrl/controller.h"

#ifndef PEERPODS_VERSION
#define PEERPODS_VERSION "0.0.0-dev"
#endif

namespace {

using namespace pp;

// ":8080" -> 0.0.0.0:8080, "127.0.0.1:9090", "0" -> disabled (as controller-runtime).
Result<std::optional<net::HttpServerOptions>> bindAddress(const std::string& flag,
                                                          const std::string& value) {
  if (value == "0" || value.empty()) return std::nullopt;
  size_t colon = value.rfind(':');
  if (colon == std::string::npos) {
    return fail(Code::kInvalidArgument, "--" + flag + " \"" + value + "\" is not host:port");
  }
  net::HttpServerOptions o;
  o.host = value.substr(0, colon);
  if (o.host.empty()) o.host = "0.0.0.0";
  if (o.host.size() > 2 && o.host.front() == '[' && o.host.back() == ']')
    o.host = o.host.substr(1, o.host.size() - 2);
  auto port = flags::parseUint(value.substr(colon + 1));
  if (!port || *port > 65535) {
    return fail(Code::kInvalidArgument, "--" + flag + " \"" + value + "\" has no valid port");
  }
  o.port = static_cast<uint16_t>(*port);
  return o;
}

net::ServerResponse text(int status, std::string body,
                         std::string type = "text/plain; charset=utf-8") {
  return net::ServerResponse{status, {{"Content-Type", std::move(type)}}, std::move(body)};
}

}  // namespace

int main(int argc, char** argv) {
  std::string metricsAddr, probeAddr, kubeconfig, logLevel, ns;
  bool leaderElect = false, zapDevel = false, deleteOrphans = false;
  std::chrono::nanoseconds sweepInterval{}, orphanMinAge{};
  flags::FlagSet fs("peerpod-ctrl");
  fs.stringVar(&metricsAddr, "metrics-bind-address", ":8080", "",
               "The address the metric endpoint binds to (\"0\" disables it).");
  fs.stringVar(&probeAddr, "health-probe-bind-address", ":8081", "",
               "The address the probe endpoint binds to.");
  fs.boolVar(&leaderElect, "leader-elect", false, "",
             "Enable leader election (Lease 33f6c5d6.confidentialcontainers.org), so that only "
             "one replica works at a time.");
  fs.stringVar(&kubeconfig, "kubeconfig", "", "KUBECONFIG",
               "Path to a kubeconfig; in-cluster configuration when empty.");
  fs.stringVar(&logLevel, "zap-log-level", "info", "", "Log level: debug, info, warn or error.");
  fs.boolVar(&zapDevel, "zap-devel", false, "",
             "Accepted for compatibility; sets the debug level.");
  fs.stringVar(&ns, "peerpods-namespace", "", "PEERPODS_NAMESPACE",
               "Namespace of the peer-pods-cm ConfigMap and peer-pods-secret Secret.");
  fs.durationVar(&sweepInterval, "orphan-sweep-interval", std::chrono::minutes(10),
                 "ORPHAN_SWEEP_INTERVAL",
                 "How often to look for cloud instances no PeerPod refers to (0 disables).");
  fs.durationVar(
      &orphanMinAge, "orphan-min-age", std::chrono::minutes(10), "ORPHAN_MIN_AGE",
      "How long an instance must have been an orphan before --delete-orphans deletes it.");
  fs.boolVar(&deleteOrphans, "delete-orphans", false, "DELETE_ORPHANS",
             "Delete orphan instances (otherwise they are only reported).");
  log::addLogFormatFlag(fs);
  auto parsed = fs.parse(std::vector<std::string>(argv + 1, argv + argc));
  if (!parsed) {
    std::fprintf(stderr, "peerpod-ctrl: %s\nRun 'peerpod-ctrl -help' for the flags.\n",
                 parsed.error().message.c_str());
    return 1;
  }
  if (parsed->helpRequested) {
    std::printf("Usage: peerpod-ctrl [flags]\n\nFlags (flag > environment variable > default):\n%s",
                fs.helpText().c_str());
    return 0;
  }
  if (!parsed->remaining.empty()) {
    std::fprintf(stderr, "peerpod-ctrl: unexpected argument %s\n", parsed->remaining[0].c_str());
    return 1;
  }
  log::Level level;
  if (!log::parseLevel(logLevel, &level)) {
    std::fprintf(stderr, "peerpod-ctrl: --zap-log-level must be debug, info, warn or error\n");
    return 1;
  }
  log::setLevel(zapDevel ? log::Level::kDebug : level);
  auto metricsBind = bindAddress("metrics-bind-address", metricsAddr);
  auto probeBind = bindAddress("health-probe-bind-address", probeAddr);
  for (auto* b : {&metricsBind, &probeBind}) {
    if (!*b) {
      std::fprintf(stderr, "peerpod-ctrl: %s\n", b->error().message.c_str());
      return 1;
    }
  }

  // Block the stop signals before threads start, so that sigwait below takes them.
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGTERM);
  sigaddset(&stopSignals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);

  log::info("peerpod-ctrl", "peerpod-ctrl {} starting", PEERPODS_VERSION);
  for (const auto& line : fs.dump()) log::info("peerpod-ctrl", "  {}", line);
  if (leaderElect) {
    log::warn("peerpod-ctrl",
              "--leader-elect is accepted but leader election is not implemented; "
              "run a single replica (the Deployment's default)");
  }
  auto config = kubeconfig.empty() ? k8s::inClusterConfig() : k8s::kubeconfigFromFile(kubeconfig);
  if (!config) {
    log::error("peerpod-ctrl", "Kubernetes API configuration: {}", config.error().message);
    return 1;
  }
  if (ns.empty()) ns = config->ns;  // the service account's namespace
  auto client = std::make_shared<const k8s::Client>(std::move(*config));

  peerpod_ctrl::ControllerOptions options;
  options.configNamespace = ns;
  options.sweepInterval = std::chrono::duration_cast<std::chrono::milliseconds>(sweepInterval);
  options.orphanMinAge = std::chrono::duration_cast<std::chrono::milliseconds>(orphanMinAge);
  options.deleteOrphans = deleteOrphans;
  peerpod_ctrl::Controller controller(client, options);
  // With leader election a replica that waits for the Lease is ready (it is healthy), as with
  // controller-runtime; the leader is ready once it has listed the PeerPods.
  std::atomic<bool> standby{leaderElect};
  std::atomic<bool> lostLeadership{false};

  std::unique_ptr<net::HttpServer> probeServer, metricsServer;
  if (*probeBind) {
    auto o = **probeBind;
    o.name = "probes";
    auto s = net::HttpServer::start(o, [&controller, &standby](const net::ServerRequest& r) {
      if (r.path == "/healthz") return text(200, "ok\n");
      if (r.path == "/readyz") {
        return controller.ready() ? text(200, "ok\n")
                                  : text(500, "not ready: PeerPods not listed yet\n");
      }
      return text(404, "not found\n");
    });
    if (!s) {
      log::error("peerpod-ctrl", "health probe server: {}", s.error().message);
      return 1;
    }
    probeServer = std::move(*s);
    log::info("peerpod-ctrl", "health probes on {}:{} (/healthz, /readyz)", o.host,
              probeServer->port());
  }
  if (*metricsBind) {
    auto o = **metricsBind;
    o.name = "metrics";
    auto s = net::HttpServer::start(o, [&controller](const net::ServerRequest& r) {
      if (r.path == "/metrics")
        return text(200, controller.metricsText(), "text/plain; version=0.0.4; charset=utf-8");
      return text(404, "not found\n");
    });
    if (!s) {
      log::error("peerpod-ctrl", "metrics server: {}", s.error().message);
      return 1;
    }
    metricsServer = std::move(*s);
    log::info("peerpod-ctrl", "metrics on {}:{}/metrics", o.host, metricsServer->port());
  }

  std::jthread runner([&](std::stop_token stop) {
    if (!leaderElect) {
      controller.run(stop);
      return;
    }
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    unsigned char random[4];
    if (RAND_bytes(random, sizeof random) != 1) random[0] = random[1] = random[2] = random[3] = 0;
    k8s::LeaderElector elector(
        *client, {.ns = ns,
                  .name = "33f6c5d6.confidentialcontainers.org",
                  .identity = fmt::format("{}_{:02x}{:02x}{:02x}{:02x}", host, random[0], random[1],
                                          random[2], random[3])});
    if (!elector.acquire(stop)) return;
    standby = false;
    bool kept;
    {
      std::jthread work([&controller](std::stop_token s) { controller.run(s); });
      kept = elector.hold(stop);
    }
    if (kept) {
      elector.release();
      return;
    }
    // As controller-runtime: a leader that lost its Lease exits, and a new replica takes over.
    log::error("peerpod-ctrl", "leader election lost; exiting");
    lostLeadership = true;
    ::kill(::getpid(), SIGTERM);
  });
  int sig = 0;
  sigwait(&stopSignals, &sig);
  log::info("peerpod-ctrl", "received {}, stopping (send it again to exit at once)",
            strsignal(sig));
  std::thread second([stopSignals]() mutable {
    int again = 0;
    sigwait(&stopSignals, &again);
    _exit(1);
  });
  second.detach();
  runner.request_stop();
  runner.join();
  if (metricsServer) metricsServer->stop();
  if (probeServer) probeServer->stop();
  return lostLeadership ? 1 : 0;
}
