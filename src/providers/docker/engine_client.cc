// Docker Engine API calls over net::HttpClient (see engine_client.h).
#include "providers/docker/engine_client.h"

namespace pp::providers::docker {
namespace {

constexpr size_t kMaxReply = 16u << 20;

}  // namespace

Result<EngineClient> EngineClient::create(EngineOptions options) {
  EngineClient c;
  if (options.host.rfind("unix://", 0) == 0) {
    c.socketPath_ = options.host.substr(7);
    if (c.socketPath_.empty())
      return fail(Code::kInvalidArgument, "docker host " + options.host + " has no socket path");
    c.baseUrl_ = "http://docker";
  } else if (options.host.rfind("tcp://", 0) == 0) {
    c.baseUrl_ = (options.tlsVerify ? "https://" : "http://") + options.host.substr(6);
  } else {
    return fail(Code::kInvalidArgument,
                "docker host \"" + options.host + "\" must start with unix:// or tcp://");
  }
  c.options_ = std::move(options);
  return c;
}

Result<EngineReply> EngineClient::call(const std::string& method, const std::string& path,
                                       const nlohmann::json* body) const {
  net::HttpRequest req;
  req.method = method;
  req.url = baseUrl_ + "/v" + options_.apiVersion + path;
  req.headers.emplace_back("Content-Type", "application/json");
  if (body) req.body = body->dump();
  req.timeout = options_.timeout;
  req.unixSocket = socketPath_;
  req.maxResponseBytes = kMaxReply;
  if (options_.tlsVerify && !options_.certPath.empty()) {
    req.caFile = options_.certPath + "/ca.pem";
    req.clientCertFile = options_.certPath + "/cert.pem";
    req.clientKeyFile = options_.certPath + "/key.pem";
  }
  auto r = http_.send(req);
  if (!r)
    return fail(r.error().wrap("docker engine " + options_.host + ": " + method + " " + path));
  EngineReply reply;
  reply.status = r->status;
  reply.raw = std::move(r->body);
  if (!reply.raw.empty()) reply.body = nlohmann::json::parse(reply.raw, nullptr, false);
  if (reply.body.is_discarded()) reply.body = nullptr;
  return reply;
}

std::string EngineClient::errorMessage(const EngineReply& reply) {
  if (reply.body.is_object() && reply.body.contains("message") &&
      reply.body["message"].is_string()) {
    return reply.body["message"].get<std::string>();
  }
  return "HTTP " + std::to_string(reply.status) +
         (reply.raw.empty() ? "" : ": " + reply.raw.substr(0, 200));
}

}  // namespace pp::providers::docker
