// peerpods-webhook: the mutating admission webhook that sizes peer-pod VMs from pod resources
// (see src/webhook). Flags follow upstream's controller-runtime manager (-metrics-bind-address,
// -health-probe-bind-address, -leader-elect, zap flags) plus the webhook server's options.

#include <cstdio>
#include <string>
#include <vector>

#include "base/flags.h"
#include "base/log.h"
#include "base/log_flag.h"
#include "base/signals.h"
#include "build_info.h"
#include "net/http_server.h"
#include "webhook/webhook_server.h"

namespace {

using namespace pp;

struct Options {
  std::string metricsAddress;
  std::string probeAddress;
  bool leaderElect = false;
  std::string webhookHost;
  uint64_t webhookPort = 9443;
  std::string certDir, certName, keyName;
  std::string targetRuntimeClass, extendedResource;
  std::string tlsMinVersion, tlsCipherSuites;
  std::string zapLogLevel, zapEncoder, zapStacktraceLevel, zapTimeEncoding;
  bool zapDevel = false;
  bool version = false;
};

void registerFlags(flags::FlagSet& fs, Options& o) {
  fs.stringVar(&o.metricsAddress, "metrics-bind-address", ":8080", "",
               "The address the metric endpoint binds to (\"0\" disables it).");
  fs.stringVar(&o.probeAddress, "health-probe-bind-address", ":8081", "",
               "The address the probe endpoint binds to (\"0\" disables it).");
  fs.boolVar(&o.leaderElect, "leader-elect", false, "",
             "Accepted for compatibility; the webhook keeps no state, every replica serves.");
  fs.stringVar(&o.webhookHost, "webhook-host", "", "",
               "Address the HTTPS webhook server listens on (all when empty).");
  fs.uintVar(&o.webhookPort, "webhook-port", 9443, "",
             "Port of the HTTPS webhook server (0 picks a free one).");
  fs.stringVar(&o.certDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "",
               "Directory holding the serving certificate and key (reloaded when they change).");
  fs.stringVar(&o.certName, "cert-name", "tls.crt", "",
               "Serving certificate file name in -cert-dir.");
  fs.stringVar(&o.keyName, "key-name", "tls.key", "", "Serving key file name in -cert-dir.");
  fs.stringVar(&o.targetRuntimeClass, "target-runtimeclass", "kata-remote", "TARGET_RUNTIMECLASS",
               "Only pods of this runtime class are mutated.");
  fs.stringVar(&o.extendedResource, "pod-vm-extended-resource", "kata.peerpods.io/vm",
               "POD_VM_EXTENDED_RESOURCE", "Extended resource requested by mutated pods.");
  fs.stringVar(&o.tlsMinVersion, "tls-min-version", "", "TLS_MIN_VERSION",
               "VersionTLS12 or VersionTLS13.");
  fs.stringVar(&o.tlsCipherSuites, "tls-cipher-suites", "", "TLS_CIPHER_SUITES",
               "Comma-separated TLS 1.2 cipher suites (Go names).");
  fs.stringVar(&o.zapLogLevel, "zap-log-level", "info", "",
               "Log level: debug, info, error (or a zap number).");
  fs.boolVar(&o.zapDevel, "zap-devel", false, "",
             "Accepted for compatibility (development logging).");
  fs.stringVar(&o.zapEncoder, "zap-encoder", "", "", "Accepted for compatibility.");
  fs.stringVar(&o.zapStacktraceLevel, "zap-stacktrace-level", "", "",
               "Accepted for compatibility.");
  fs.stringVar(&o.zapTimeEncoding, "zap-time-encoding", "", "", "Accepted for compatibility.");
  fs.boolVar(&o.version, "version", false, "", "Print the version and exit.");
  log::addLogFormatFlag(fs);
}

void applyLogLevel(const std::string& level) {
  log::Level parsed;
  if (log::parseLevel(level, &parsed)) {
    log::setLevel(parsed);
  } else if (!level.empty() && level.find_first_not_of("0123456789") == std::string::npos &&
             level != "0") {
    log::setLevel(log::Level::kDebug);  // zap's verbosity numbers: anything above 0 is debug
  } else if (level != "0") {
    log::warn("webhook", "unknown -zap-log-level \"{}\", using info", level);
  }
}

bool metricsSameAsProbe(const Options& o) {
  return o.metricsAddress == o.probeAddress;
}

Result<std::unique_ptr<net::HttpServer>> startPlain(const std::string& flag,
                                                    const std::string& address,
                                                    net::HttpHandler handler) {
  auto parsed = webhook::parseListenAddress(address);
  if (!parsed) return fail(parsed.error().wrap("-" + flag));
  if (parsed->disabled) return std::unique_ptr<net::HttpServer>();
  net::HttpServerOptions options;
  options.host = parsed->host;
  options.port = parsed->port;
  options.name = flag;
  options.limits.maxBodyBytes = 4096;
  return net::HttpServer::start(options, std::move(handler));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  flags::FlagSet fs("peerpods-webhook");
  registerFlags(fs, o);
  auto parsed = fs.parse(std::vector<std::string>(argv + 1, argv + argc));
  if (!parsed) {
    std::fprintf(stderr, "peerpods-webhook: %s\nRun 'peerpods-webhook -help' for the flags.\n",
                 parsed.error().message.c_str());
    return 1;
  }
  if (parsed->helpRequested) {
    std::printf(
        "Usage: peerpods-webhook [flags]\n\nFlags (flag > environment variable > default):\n%s",
        fs.helpText().c_str());
    return 0;
  }
  if (o.version || parsed->versionRequested) {
    std::fputs(build::versionText("peerpods-webhook").c_str(), stdout);
    return 0;
  }
  if (!parsed->remaining.empty()) {
    std::fprintf(stderr, "peerpods-webhook: unexpected argument %s\n",
                 parsed->remaining[0].c_str());
    return 1;
  }
  if (std::string bad = log::environmentError(); !bad.empty()) {
    std::fprintf(stderr, "%s: %s\n", "peerpods-webhook", bad.c_str());
    return 1;
  }

  applyLogLevel(o.zapLogLevel);
  if (o.webhookPort > 65535) {
    log::error("webhook", "-webhook-port must be between 1 and 65535 (0 picks a free port)");
    return 1;
  }
  if (o.targetRuntimeClass.empty() || o.extendedResource.empty()) {
    log::error("webhook", "the target runtime class and the extended resource must not be empty");
    return 1;
  }
  auto profile = webhook::parseTlsProfile(o.tlsMinVersion, o.tlsCipherSuites);
  if (!profile) {
    log::error("webhook", "{}", profile.error().message);
    return 1;
  }

  signals::StopSignals stopSignals;
  log::info("webhook", "peerpods-webhook {} (commit {}) starting", build::kVersion, build::kCommit);
  for (const auto& line : fs.dump()) log::info("webhook", "  {}", line);
  if (o.leaderElect)
    log::info("webhook", "-leader-elect is not needed by the webhook: every replica serves");

  webhook::WebhookServerOptions options;
  options.host = o.webhookHost;
  options.port = static_cast<uint16_t>(o.webhookPort);
  options.certFile = o.certDir + "/" + o.certName;
  options.keyFile = o.certDir + "/" + o.keyName;
  options.tls = *profile;
  options.mutator = {o.targetRuntimeClass, o.extendedResource};
  auto server = webhook::WebhookServer::start(options);
  if (!server) {
    log::error("webhook", "{} (is the webhook-server-cert Secret mounted at {}?)",
               server.error().message, o.certDir);
    return 1;
  }
  log::info("webhook", "serving {} on port {} for runtime class {}", webhook::kMutatePath,
            (*server)->port(), o.targetRuntimeClass);

  auto handler = webhook::makeProbeHttpHandler(server->get());
  auto probe = startPlain("health-probe-bind-address", o.probeAddress, handler);
  if (!probe) {
    log::error("webhook", "{}", probe.error().message);
    return 1;
  }
  if (*probe)
    log::info("webhook", "probes{} on {}", metricsSameAsProbe(o) ? " and metrics" : "",
              (*probe)->baseUrl());
  std::unique_ptr<net::HttpServer> metrics;
  if (!metricsSameAsProbe(o)) {
    auto m = startPlain("metrics-bind-address", o.metricsAddress, handler);
    if (!m) {
      log::error("webhook", "{}", m.error().message);
      return 1;
    }
    metrics = std::move(*m);
    if (metrics) log::info("webhook", "metrics on {}/metrics", metrics->baseUrl());
  }

  log::info("webhook", "received {}, stopping (send it again to exit at once)", stopSignals.wait());
  stopSignals.exitOnNext();
  if (metrics) metrics->stop();
  if (*probe) (*probe)->stop();
  (*server)->stop();
  return 0;
}
