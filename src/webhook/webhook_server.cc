// HTTPS admission server, probe/metrics handlers and listen-address parsing.
#include "webhook/webhook_server.h"

#include <fmt/format.h>

#include <charconv>

#include "base/log.h"
#include "net/tls.h"

namespace pp::webhook {
namespace {

net::ServerResponse textResponse(int status, std::string body) {
  net::ServerResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  r.body = std::move(body);
  return r;
}

}  // namespace

net::HttpHandler makeAdmissionHttpHandler(std::shared_ptr<const AdmissionHandler> handler,
                                          std::shared_ptr<WebhookStats> stats) {
  return [handler = std::move(handler), stats = std::move(stats)](const net::ServerRequest& req) {
    if (req.path == "/healthz" || req.path == "/readyz") return textResponse(200, "ok");
    if (req.path != kMutatePath) {
      stats->httpErrors.fetch_add(1);
      return textResponse(404,
                          fmt::format("no such path; admission reviews go to {}\n", kMutatePath));
    }
    if (req.method != "POST") {
      stats->httpErrors.fetch_add(1);
      auto r = textResponse(405, "admission reviews must be POSTed\n");
      r.headers.emplace_back("Allow", "POST");
      return r;
    }
    AdmissionOutcome out = handler->handle(req.header("Content-Type"), req.body);
    switch (out.kind) {
      case AdmissionOutcome::Kind::kMutated:
        stats->mutated.fetch_add(1);
        log::info("webhook", "mutated pod {} (uid {}): {}", out.podName, out.uid, out.message);
        break;
      case AdmissionOutcome::Kind::kUnchanged:
        stats->unchanged.fetch_add(1);
        log::debug("webhook", "pod {} (uid {}) unchanged: {}", out.podName, out.uid, out.message);
        break;
      case AdmissionOutcome::Kind::kRejected:
        stats->rejected.fetch_add(1);
        log::warn("webhook", "rejected admission request (uid {}): {}",
                  out.uid.empty() ? "-" : out.uid, out.message);
        break;
    }
    net::ServerResponse r;
    r.status = out.httpStatus;
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = std::move(out.body);
    return r;
  };
}

Result<std::unique_ptr<WebhookServer>> WebhookServer::start(const WebhookServerOptions& options) {
  std::unique_ptr<WebhookServer> server(new WebhookServer());
  auto certs = CertReloader::create(options.certFile, options.keyFile);
  if (!certs) return fail(certs.error().wrap("webhook serving certificate"));
  server->certs_ = std::move(*certs);
  // The context starts with the current pair; the reloader then overrides it per handshake.
  auto pair = net::readCertifiedKeyFiles(options.certFile, options.keyFile);
  if (!pair) return fail(pair.error().wrap("webhook serving certificate"));
  auto ctx = net::makeServerContext(net::TlsServerConfig{pair->certPem, pair->keyPem, ""});
  if (!ctx) return fail(ctx.error());
  if (auto st = applyTlsProfile(**ctx, options.tls); !st) return fail(st.error());
  if (auto st = server->certs_->install(**ctx); !st) return fail(st.error());

  server->stats_ = std::make_shared<WebhookStats>();
  auto handler = std::make_shared<const AdmissionHandler>(options.mutator);
  net::HttpServerOptions http;
  http.host = options.host;
  http.port = options.port;
  http.tls = std::move(*ctx);
  http.threads = options.threads;
  http.name = "webhook";
  http.limits.maxBodyBytes = kMaxReviewBytes;
  http.requestTimeout = std::chrono::seconds(30);
  auto started = net::HttpServer::start(http, makeAdmissionHttpHandler(handler, server->stats_));
  if (!started) return fail(started.error());
  server->http_ = std::move(*started);
  return server;
}

WebhookServer::~WebhookServer() {
  stop();
}

void WebhookServer::stop() {
  if (http_) http_->stop();
}

std::string WebhookServer::metricsText() const {
  std::string out;
  out += "# HELP peerpods_webhook_admissions_total Admission reviews answered, by result.\n";
  out += "# TYPE peerpods_webhook_admissions_total counter\n";
  out += fmt::format("peerpods_webhook_admissions_total{{result=\"mutated\"}} {}\n",
                     stats_->mutated.load());
  out += fmt::format("peerpods_webhook_admissions_total{{result=\"unchanged\"}} {}\n",
                     stats_->unchanged.load());
  out += fmt::format("peerpods_webhook_admissions_total{{result=\"rejected\"}} {}\n",
                     stats_->rejected.load());
  out +=
      "# HELP peerpods_webhook_http_errors_total Requests to a wrong path or with a wrong "
      "method.\n";
  out += "# TYPE peerpods_webhook_http_errors_total counter\n";
  out += fmt::format("peerpods_webhook_http_errors_total {}\n", stats_->httpErrors.load());
  out +=
      "# HELP peerpods_webhook_certificate_reloads_total Serving certificate reloads, by result.\n";
  out += "# TYPE peerpods_webhook_certificate_reloads_total counter\n";
  out += fmt::format("peerpods_webhook_certificate_reloads_total{{result=\"ok\"}} {}\n",
                     certs_->reloads());
  out += fmt::format("peerpods_webhook_certificate_reloads_total{{result=\"error\"}} {}\n",
                     certs_->failedReloads());
  return out;
}

net::HttpHandler makeProbeHttpHandler(const WebhookServer* server) {
  return [server](const net::ServerRequest& req) {
    if (req.path == "/healthz" || req.path == "/readyz") return textResponse(200, "ok");
    if (req.path == "/metrics") {
      auto r = textResponse(200, server->metricsText());
      r.headers[0].second = "text/plain; version=0.0.4; charset=utf-8";
      return r;
    }
    return textResponse(404, "not found\n");
  };
}

Result<ListenAddress> parseListenAddress(std::string_view text) {
  ListenAddress out;
  if (text == "0") {
    out.disabled = true;
    return out;
  }
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return fail(Code::kInvalidArgument,
                fmt::format("listen address \"{}\" must be host:port or :port", text));
  }
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value > 65535 || port.empty()) {
    return fail(Code::kInvalidArgument,
                fmt::format("listen address \"{}\" has an invalid port", text));
  }
  out.host = std::string(host);
  out.port = static_cast<uint16_t>(value);
  return out;
}

}  // namespace pp::webhook
