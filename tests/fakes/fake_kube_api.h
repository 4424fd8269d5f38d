// An in-process fake Kubernetes API server for tests. It keeps objects in memory and
// implements the verbs our components use, with the API server's semantics where they matter:
// resourceVersion on every write, 409 Conflict for an update with a stale resourceVersion,
// 409 AlreadyExists, finalizers (DELETE sets deletionTimestamp and the object stays until its
// finalizers are empty), JSON patch and merge patch, status subresources, list and streamed
// watch from a resourceVersion (ERROR 410 "Expired" for one older than the kept history),
// label and simple field selectors, bearer-token checks and injected failures.
// Resources: pods, nodes, events, configmaps, secrets, serviceaccounts, leases, PeerPods and
// PeerpodVolumes.
// Owner-reference garbage collection is not simulated.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "k8s/config.h"
#include "net/http_server.h"

namespace pp::fakes {

using Json = nlohmann::json;

struct FakeKubeApiOptions {
  // When set, every request must carry "Authorization: Bearer <token>" (else 401).
  std::string token;
  // Watch history kept; a watch from an older resourceVersion gets 410 Expired.
  size_t historyLimit = 10000;
  // Watch streams end after min(timeoutSeconds, this).
  int maxWatchSeconds = 30;
  // HTTPS when set (see net/tls.h makeServerContext).
  std::shared_ptr<asio::ssl::context> tls;
};

struct RecordedRequest {
  std::string method;
  std::string path;
  std::string query;
  std::string contentType;
  std::string body;
};

class FakeKubeApi {
 public:
  static std::unique_ptr<FakeKubeApi> start(FakeKubeApiOptions options = {});
  ~FakeKubeApi();

  std::string url() const;
  // A client configuration for this server (token set, TLS verification off for https).
  k8s::ClientConfig clientConfig() const;

  // Direct access, bypassing HTTP. `plural` is "pods", "peerpods", ...; namespace "" for
  // cluster-scoped kinds. seed() creates or replaces (bumping resourceVersion, emitting events).
  Json seed(const std::string& plural, const Json& object);
  std::optional<Json> object(const std::string& plural, const std::string& ns,
                             const std::string& name) const;
  std::vector<Json> objects(const std::string& plural, const std::string& ns = "") const;
  // Drops the whole watch history: every resourceVersion handed out so far becomes too old
  // for a watch (410 Expired); a fresh list works again.
  void compactHistory();
  // Ends every open watch stream now (as an API server restart would).
  void closeWatches();

  // The next `count` requests whose method matches and whose path contains `pathPart` fail
  // with `status` and a Status of `reason`.
  void failNext(const std::string& method, const std::string& pathPart, int status,
                const std::string& reason, int count = 1);

  std::vector<RecordedRequest> requests() const;
  void clearRequests();
  uint64_t resourceVersion() const;

 private:
  struct Kind;
  struct Event {
    uint64_t rv;
    std::string type;
    std::string plural;
    Json object;
  };
  struct Failure {
    std::string method, pathPart, reason;
    int status;
    int count;
  };
  struct Target;

  explicit FakeKubeApi(FakeKubeApiOptions options);
  net::ServerResponse handle(const net::ServerRequest& request);
  net::ServerResponse dispatch(const net::ServerRequest& request, const Target& t);
  net::ServerResponse doCreate(const Target& t, const Json& body);
  net::ServerResponse doUpdate(const Target& t, Json body);
  net::ServerResponse doPatch(const Target& t, const std::string& contentType, const Json& body);
  net::ServerResponse doDelete(const Target& t);
  net::ServerResponse doList(const Target& t, const net::ServerRequest& request);
  net::ServerResponse doWatch(const Target& t, const net::ServerRequest& request);
  // Stores `object` (mu_ held), bumping the version; removes it when it is being deleted and
  // has no finalizers left. Returns the stored (or last) object.
  Json storeLocked(const std::string& plural, Json object, bool existed);
  void recordLocked(const std::string& type, const std::string& plural, const Json& object);

  FakeKubeApiOptions options_;
  std::unique_ptr<net::HttpServer> server_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  bool stopping_ = false;
  uint64_t closeGeneration_ = 0;
  uint64_t rv_ = 100;
  uint64_t compactedThrough_ = 0;
  uint64_t uidCounter_ = 0;
  // plural -> "ns/name" -> object
  std::map<std::string, std::map<std::string, Json>> store_;
  std::deque<Event> history_;
  std::vector<Failure> failures_;
  std::vector<RecordedRequest> requests_;
};

}  // namespace pp::fakes
