// peerpod-ctrl: deletes the cloud instance of every PeerPod whose finalizer the adaptor left
// behind, removes stale duplicate PeerPods and sweeps for orphan instances. Flags follow
// upstream's controller (controller-runtime manager flags) where it has them.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/flags.h"
#include "base/log.h"
#include "base/log_flag.h"
#include "base/signals.h"
#include "build_info.h"
#include "k8s/client.h"
#include "net/http_server.h"
#include "peerpod_ctrl/daemon.h"

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
  if (parsed->versionRequested) {
    std::fputs(build::versionText("peerpod-ctrl").c_str(), stdout);
    return 0;
  }
  if (!parsed->remaining.empty()) {
    std::fprintf(stderr, "peerpod-ctrl: unexpected argument %s\n", parsed->remaining[0].c_str());
    return 1;
  }
  if (std::string bad = log::environmentError(); !bad.empty()) {
    std::fprintf(stderr, "%s: %s\n", "peerpod-ctrl", bad.c_str());
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

  signals::StopSignals stopSignals;
  log::info("peerpod-ctrl", "peerpod-ctrl {} (commit {}) starting", build::kVersion,
            build::kCommit);
  for (const auto& line : fs.dump()) log::info("peerpod-ctrl", "  {}", line);
  auto config = kubeconfig.empty() ? k8s::inClusterConfig() : k8s::kubeconfigFromFile(kubeconfig);
  if (!config) {
    log::error("peerpod-ctrl", "Kubernetes API configuration: {}", config.error().message);
    return 1;
  }
  if (ns.empty()) ns = config->ns;  // the service account's namespace

  peerpod_ctrl::DaemonOptions options;
  options.controller.configNamespace = ns;
  options.controller.sweepInterval =
      std::chrono::duration_cast<std::chrono::milliseconds>(sweepInterval);
  options.controller.orphanMinAge =
      std::chrono::duration_cast<std::chrono::milliseconds>(orphanMinAge);
  options.controller.deleteOrphans = deleteOrphans;
  options.probe = *probeBind;
  options.metrics = *metricsBind;
  options.leaderElect = leaderElect;
  options.onLeadershipLost = [] { ::kill(::getpid(), SIGTERM); };
  peerpod_ctrl::Daemon daemon(std::make_shared<const k8s::Client>(std::move(*config)),
                              std::move(options));
  if (auto st = daemon.start(); !st) {
    log::error("peerpod-ctrl", "{}", st.error().message);
    return 1;
  }
  log::info("peerpod-ctrl", "received {}, stopping (send it again to exit at once)",
            stopSignals.wait());
  stopSignals.exitOnNext();
  daemon.stop();
  return daemon.lostLeadership() ? 1 : 0;
}
