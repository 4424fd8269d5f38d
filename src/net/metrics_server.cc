#include "net/metrics_server.h"

namespace pp::net {

Result<std::unique_ptr<HttpServer>> startMetricsServer(const std::string& host, uint16_t port,
                                                       const metrics::Registry& registry) {
  HttpServerOptions o;
  o.name = "metrics";
  o.host = host.empty() ? "0.0.0.0" : host;
  o.port = port;
  o.maxConnections = 8;  // a scraper or two
  return HttpServer::start(o, [&registry](const ServerRequest& r) {
    if (r.path != "/metrics")
      return ServerResponse{404, {{"Content-Type", "text/plain"}}, "not found\n"};
    if (r.method != "GET")
      return ServerResponse{405, {{"Content-Type", "text/plain"}}, "only GET\n"};
    return ServerResponse{200, {{"Content-Type", metrics::kContentType}}, registry.render()};
  });
}

}  // namespace pp::net
