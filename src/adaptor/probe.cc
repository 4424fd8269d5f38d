#include "adaptor/probe.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "base/metrics.h"

namespace pp::adaptor {
namespace {

net::ServerResponse plain(int status, std::string body) {
  return net::ServerResponse{status, {{"Content-Type", "text/plain"}}, std::move(body)};
}

// Whether a unix socket accepts connections: a non-blocking connect, so that a full backlog
// does not hold the probe. "" when it does, else why not.
std::string connectError(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return "socket path too long";
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return std::strerror(errno);
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  std::string err = rc == 0 ? "" : std::strerror(errno);
  ::close(fd);
  return err;
}

}  // namespace

Result<std::unique_ptr<StartupProbe>> StartupProbe::start(
    uint16_t port, std::string hypervisorSocket, std::function<std::string()> podsNotReady) {
  std::unique_ptr<StartupProbe> probe(
      new StartupProbe(std::move(hypervisorSocket), std::move(podsNotReady)));
  net::HttpServerOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.name = "probe";
  o.maxConnections = 16;
  o.limits.maxHeaderBytes = 8192;
  o.limits.maxBodyBytes = 0;
  o.headerTimeout = std::chrono::seconds(5);
  o.requestTimeout = std::chrono::seconds(5);
  auto server = net::HttpServer::start(
      o, [p = probe.get()](const net::ServerRequest& r) { return p->handle(r); });
  if (!server) return fail(server.error().wrap("startup probe"));
  probe->server_ = std::move(*server);
  return probe;
}

StartupProbe::~StartupProbe() {
  stop();
}

void StartupProbe::stop() {
  if (server_) server_->stop();
}

std::string StartupProbe::lastNotReadyReason() const {
  std::lock_guard lock(mu_);
  return lastReason_;
}

std::string StartupProbe::notReadyReason() {
  if (readyOnce_) return "";
  if (std::string err = connectError(socket_); !err.empty())
    return "hypervisor socket " + socket_ + " is not accepting connections yet (" + err + ")";
  if (podsNotReady_) {
    std::string reason = podsNotReady_();
    if (!reason.empty()) return reason;
  }
  readyOnce_ = true;
  return "";
}

net::ServerResponse StartupProbe::handle(const net::ServerRequest& request) {
  if (request.path == "/metrics") {
    if (request.method != "GET") return plain(405, "only GET\n");
    return net::ServerResponse{
        200, {{"Content-Type", metrics::kContentType}}, metrics::global().render()};
  }
  if (request.path != "/startup") return plain(404, "not found\n");
  if (request.method != "GET") return plain(405, "only GET\n");
  std::lock_guard lock(mu_);
  std::string reason = notReadyReason();
  if (reason != lastReason_ && !reason.empty())
    log::info("probe", "/startup: not ready: {}", reason);
  lastReason_ = reason;
  return reason.empty() ? plain(200, "ok\n") : plain(500, "not ready\n");
}

}  // namespace pp::adaptor
