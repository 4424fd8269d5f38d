// GET /metrics on its own small HTTP server: a registry's Prometheus text (base/metrics.h).
// The adaptor's and the forwarder's -metrics-listen, peerpod-ctrl's --metrics-bind-address.
#pragma once

#include <memory>
#include <string>

#include "base/error.h"
#include "base/metrics.h"
#include "net/http_server.h"

namespace pp::net {

// Listens on host:port (an empty host is every address; port 0 picks one). Other paths are
// 404, other methods 405. The registry must outlive the server.
Result<std::unique_ptr<HttpServer>> startMetricsServer(const std::string& host, uint16_t port,
                                                       const metrics::Registry& registry);

}  // namespace pp::net
