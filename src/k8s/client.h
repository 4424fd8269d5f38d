// A small Kubernetes REST client: get/list/create/update/patch/delete of any resource as JSON,
// and watch streams. Blocking (libcurl); thread-safe; one instance is shared by a process.
//
// API errors carry the Status object's reason and message and map to pp::Code:
//   404 NotFound -> NOT_FOUND, 409 AlreadyExists -> ALREADY_EXISTS, 409 Conflict -> ABORTED,
//   410 Gone/Expired -> OUT_OF_RANGE, 400/422 -> INVALID_ARGUMENT, 401 -> UNAUTHENTICATED,
//   403 -> PERMISSION_DENIED, 429 -> RESOURCE_EXHAUSTED, 5xx -> UNAVAILABLE/INTERNAL.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>

#include "base/error.h"
#include "k8s/config.h"
#include "net/http_client.h"

namespace pp::k8s {

using Json = nlohmann::json;

// A kind of resource as the REST paths name it.
struct Resource {
  std::string group;    // "" for the core group
  std::string version;  // "v1"
  std::string plural;   // "pods"
  bool namespaced = true;
};

namespace resources {
inline const Resource kPods{"", "v1", "pods"};
inline const Resource kNodes{"", "v1", "nodes", false};
inline const Resource kEvents{"", "v1", "events"};
inline const Resource kConfigMaps{"", "v1", "configmaps"};
inline const Resource kSecrets{"", "v1", "secrets"};
inline const Resource kServiceAccounts{"", "v1", "serviceaccounts"};
// The PeerPod custom resource, as upstream's peerpod-ctrl defines it.
inline const Resource kPeerPods{"confidentialcontainers.org", "v1alpha1", "peerpods"};
}  // namespace resources

inline constexpr const char* kPeerPodApiVersion = "confidentialcontainers.org/v1alpha1";
inline constexpr const char* kPeerPodFinalizer = "peer.pod/finalizer";

struct ListOptions {
  std::string labelSelector;
  std::string fieldSelector;
  std::string resourceVersion;
  int pageSize = 0;  // items per request (0: 500); list() follows every page
};

struct WatchOptions {
  std::string resourceVersion;  // where to resume; "" = from now
  std::string labelSelector;
  std::string fieldSelector;
  int timeoutSeconds = 300;  // the server ends the stream after this long
  bool allowBookmarks = true;
};

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED, BOOKMARK
  Json object;
};

// One line of a watch stream (one JSON event per line), as Client::watch decodes it:
// std::nullopt for a blank line; an error for a malformed event, an object without metadata,
// or an ERROR event (the Status it carries, as apiError maps it). `what` starts the messages.
Result<std::optional<WatchEvent>> parseWatchLine(std::string_view line, std::string_view what);

enum class PatchType { kJsonPatch, kMergePatch, kStrategicMergePatch };

// A string field of an API object, e.g. field(pod, "metadata", "uid"); "" when the section or
// the field is absent or not a string. Objects from the Client always have an object
// "metadata" (it checks), but their other fields are as the server sent them.
std::string field(const Json& object, std::string_view section, std::string_view key);
// A top-level string field; "" when absent or not a string (or `object` is no object).
std::string stringOf(const Json& object, std::string_view key);

// True for the codes the API errors map to (see above).
inline bool isNotFound(const Error& e) {
  return e.code == Code::kNotFound;
}
inline bool isConflict(const Error& e) {
  return e.code == Code::kAborted;
}
inline bool isAlreadyExists(const Error& e) {
  return e.code == Code::kAlreadyExists;
}
inline bool isGone(const Error& e) {
  return e.code == Code::kOutOfRange;
}

// The Error for an API response with a non-2xx status; `what` names the call.
Error apiError(long status, const std::string& body, std::string_view what);

class Client {
 public:
  explicit Client(ClientConfig config, net::HttpClient http = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ClientConfig& config() const { return config_; }

  // `ns` is ignored for cluster-scoped resources; "" lists across all namespaces.
  // `subresource` is e.g. "status".
  Result<Json> get(const Resource& r, const std::string& ns, const std::string& name,
                   const std::string& subresource = "") const;
  // The List object ({"items": [...], "metadata": {"resourceVersion"}}); pages are followed.
  Result<Json> list(const Resource& r, const std::string& ns,
                    const ListOptions& options = {}) const;
  Result<Json> create(const Resource& r, const std::string& ns, const Json& object) const;
  // PUT: the object's metadata.resourceVersion makes it conditional (409 when stale).
  Result<Json> update(const Resource& r, const std::string& ns, const Json& object,
                      const std::string& subresource = "") const;
  Result<Json> patch(const Resource& r, const std::string& ns, const std::string& name,
                     PatchType type, const Json& patch, const std::string& subresource = "") const;
  // The deleted object, or the Status the server answers with.
  Result<Json> remove(const Resource& r, const std::string& ns, const std::string& name,
                      const Json& deleteOptions = nullptr) const;

  // One watch request: calls `onEvent` for every event as it arrives until the server ends
  // the stream (OK, with the last resourceVersion seen, to resume from), `onEvent` returns
  // false or `stop` is requested (CANCELLED). A too-old resourceVersion is OUT_OF_RANGE (410).
  Result<std::string> watch(const Resource& r, const std::string& ns, const WatchOptions& options,
                            const std::function<bool(const WatchEvent&)>& onEvent,
                            std::stop_token stop = {}) const;

  // The URL path of a resource (exposed for tests and logs).
  static std::string path(const Resource& r, const std::string& ns, const std::string& name = "",
                          const std::string& subresource = "");

 private:
  struct TokenCache;
  Result<net::HttpResponse> call(const std::string& method, const std::string& pathAndQuery,
                                 const std::string& contentType, const std::string& body) const;
  Result<Json> callJson(const std::string& method, const std::string& pathAndQuery,
                        const std::string& contentType, const std::string& body,
                        std::string_view what) const;
  void prepare(net::HttpRequest& request) const;

  ClientConfig config_;
  net::HttpClient http_;
  std::unique_ptr<TokenCache> token_;
};

// Keeps a cache-less informer loop going: lists (onList gets the List object), then watches from
// the list's resourceVersion, resumes from the last event after the server ends a stream, and
// re-lists after 410 Gone. Errors are logged and retried with a capped backoff. Returns when
// `stop` is requested.
struct InformerHandlers {
  std::function<void(const Json& list)> onList;
  std::function<void(const WatchEvent& event)> onEvent;
};
void runInformer(const Client& client, const Resource& r, const std::string& ns,
                 const ListOptions& selectors, const InformerHandlers& handlers,
                 std::stop_token stop, int watchTimeoutSeconds = 300);

}  // namespace pp::k8s
