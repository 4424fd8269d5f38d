// A small Docker Engine API client: JSON requests over the daemon's unix socket (or TCP, with
// TLS when DOCKER_TLS_VERIFY/-docker-tls-verify is set), sent with net::HttpClient (unix socket,
// TLS files and the reply size cap are its options; connections are kept alive between calls).
// Engine errors come back with the engine's own message, which reaches the shim unchanged.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.h"
#include "net/http_client.h"

namespace pp::providers::docker {

struct EngineOptions {
  std::string host = "unix:///var/run/docker.sock";  // unix:///path or tcp://host:port
  std::string apiVersion = "1.44";
  std::string certPath;  // ca.pem, cert.pem, key.pem (tcp with TLS)
  bool tlsVerify = false;
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};
};

struct EngineReply {
  long status = 0;
  nlohmann::json body;  // null when the body is empty or not JSON
  std::string raw;
};

class EngineClient {
 public:
  static Result<EngineClient> create(EngineOptions options);
  // `path` starts with '/' and is relative to the API version ("/containers/create?name=x").
  Result<EngineReply> call(const std::string& method, const std::string& path,
                           const nlohmann::json* body = nullptr) const;
  // The engine's error message of a failed reply ("No such image: ...").
  static std::string errorMessage(const EngineReply& reply);

 private:
  EngineOptions options_;
  net::HttpClient http_;
  std::string socketPath_;  // unix
  std::string baseUrl_;     // http://docker or https://host:port
};

}  // namespace pp::providers::docker
