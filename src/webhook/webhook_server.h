// peerpods-webhook's servers: the HTTPS admission endpoint (/mutate-v1-pod, plus /healthz and
// /readyz) with a reloading serving certificate, and the plain-HTTP probe (/healthz, /readyz)
// and metrics (/metrics, Prometheus text) endpoints upstream's manager serves on :8081/:8080.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "base/error.h"
#include "net/http_server.h"
#include "webhook/admission.h"
#include "webhook/cert_reloader.h"

namespace pp::webhook {

inline constexpr std::string_view kMutatePath = "/mutate-v1-pod";

struct WebhookServerOptions {
  std::string host;  // "" = all IPv4 interfaces
  uint16_t port = 9443;
  std::string certFile;  // PEM certificate (chain), e.g. <cert-dir>/tls.crt
  std::string keyFile;   // PEM key, e.g. <cert-dir>/tls.key
  TlsProfile tls;
  MutatorConfig mutator;
  unsigned threads = 2;
};

// Counters for /metrics and tests.
struct WebhookStats {
  std::atomic<uint64_t> mutated{0};
  std::atomic<uint64_t> unchanged{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> httpErrors{0};  // wrong path/method, unparsable HTTP
};

class WebhookServer {
 public:
  static Result<std::unique_ptr<WebhookServer>> start(const WebhookServerOptions& options);
  ~WebhookServer();

  uint16_t port() const { return http_->port(); }
  std::string baseUrl() const { return http_->baseUrl(); }
  const WebhookStats& stats() const { return *stats_; }
  const CertReloader& certificates() const { return *certs_; }
  // Prometheus text exposition of the counters.
  std::string metricsText() const;
  void stop();

 private:
  WebhookServer() = default;
  std::shared_ptr<WebhookStats> stats_;
  std::shared_ptr<CertReloader> certs_;
  std::unique_ptr<net::HttpServer> http_;
};

// The handler of the HTTPS server (exposed for tests without TLS).
net::HttpHandler makeAdmissionHttpHandler(std::shared_ptr<const AdmissionHandler> handler,
                                          std::shared_ptr<WebhookStats> stats);

// Probe and metrics handler for the plain-HTTP ports: /healthz and /readyz answer "ok",
// /metrics the server's counters; anything else 404.
net::HttpHandler makeProbeHttpHandler(const WebhookServer* server);

// Splits a Go listen address (":8080", "0.0.0.0:8081", "[::1]:9443") into host and port;
// "0" means disabled (nullopt result value with ok status).
struct ListenAddress {
  bool disabled = false;
  std::string host;
  uint16_t port = 0;
};
Result<ListenAddress> parseListenAddress(std::string_view text);

}  // namespace pp::webhook
