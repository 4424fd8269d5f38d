#include "providers/docker/engine_client.h"

#include <curl/curl.h>

#include <mutex>

namespace pp::providers::docker {
namespace {

constexpr size_t kMaxReply = 16u << 20;

size_t collect(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  if (out->size() + size * n > kMaxReply) return 0;  // aborts the transfer: bounded memory
  out->append(data, size * n);
  return size * n;
}

void initCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

Result<EngineClient> EngineClient::create(EngineOptions options) {
  initCurlOnce();
  EngineClient c;
  if (options.host.rfind("unix://", 0) == 0) {
    c.socketPath_ = options.host.substr(7);
    if (c.socketPath_.empty()) return fail(Code::kInvalidArgument, "docker host " + options.host + " has no socket path");
    c.baseUrl_ = "http://docker";
  } else if (options.host.rfind("tcp://", 0) == 0) {
    c.baseUrl_ = (options.tlsVerify ? "https://" : "http://") + options.host.substr(6);
  } else {
    return fail(Code::kInvalidArgument, "docker host \"" + options.host + "\" must start with unix:// or tcp://");
  }
  c.options_ = std::move(options);
  return c;
}

Result<EngineReply> EngineClient::call(const std::string& method, const std::string& path,
                                       const nlohmann::json* body) const {
  CURL* curl = curl_easy_init();
  if (!curl) return fail(Code::kInternal, "libcurl init failed");
  std::string url = baseUrl_ + "/v" + options_.apiVersion + path;
  std::string payload = body ? body->dump() : std::string();
  std::string reply;
  struct curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  if (body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
  } else if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
  }
  if (!socketPath_.empty()) curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socketPath_.c_str());
  if (options_.tlsVerify && !options_.certPath.empty()) {
    std::string ca = options_.certPath + "/ca.pem", cert = options_.certPath + "/cert.pem",
                key = options_.certPath + "/key.pem";
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca.c_str());
    curl_easy_setopt(curl, CURLOPT_SSLCERT, cert.c_str());
    curl_easy_setopt(curl, CURLOPT_SSLKEY, key.c_str());
  }
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    return fail(rc == CURLE_OPERATION_TIMEDOUT ? Code::kDeadlineExceeded : Code::kUnavailable,
                "docker engine " + options_.host + ": " + method + " " + path + ": " + curl_easy_strerror(rc));
  }
  EngineReply r;
  r.status = status;
  r.raw = std::move(reply);
  if (!r.raw.empty()) r.body = nlohmann::json::parse(r.raw, nullptr, false);
  if (r.body.is_discarded()) r.body = nullptr;
  return r;
}

std::string EngineClient::errorMessage(const EngineReply& reply) {
  if (reply.body.is_object() && reply.body.contains("message") && reply.body["message"].is_string()) {
    return reply.body["message"].get<std::string>();
  }
  return "HTTP " + std::to_string(reply.status) + (reply.raw.empty() ? "" : ": " + reply.raw.substr(0, 200));
}

}  // namespace pp::providers::docker
