// In-memory fake Kubernetes API server (see fake_kube_api.h).
#include "fake_kube_api.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <stdexcept>

namespace pp::fakes {
namespace {

using net::ServerRequest;
using net::ServerResponse;

struct KindInfo {
  const char* plural;
  const char* group;
  const char* version;
  const char* kind;
  bool namespaced;
  bool hasStatus;
};

constexpr KindInfo kKinds[] = {
    {"pods", "", "v1", "Pod", true, true},
    {"nodes", "", "v1", "Node", false, true},
    {"events", "", "v1", "Event", true, false},
    {"configmaps", "", "v1", "ConfigMap", true, false},
    {"secrets", "", "v1", "Secret", true, false},
    {"serviceaccounts", "", "v1", "ServiceAccount", true, false},
    {"peerpods", "confidentialcontainers.org", "v1alpha1", "PeerPod", true, true},
    {"peerpodvolumes", "confidentialcontainers.org", "v1alpha1", "PeerpodVolume", true, true},
    {"leases", "coordination.k8s.io", "v1", "Lease", true, false},
};

const KindInfo* kindOf(const std::string& plural) {
  for (const auto& k : kKinds) {
    if (plural == k.plural) return &k;
  }
  return nullptr;
}

std::string apiVersionOf(const KindInfo& k) {
  return std::string(k.group).empty() ? k.version : std::string(k.group) + "/" + k.version;
}

ServerResponse json(int status, const Json& body) {
  return ServerResponse{status, {{"Content-Type", "application/json"}}, body.dump()};
}

Json statusObject(int code, const std::string& reason, const std::string& message) {
  return Json{{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", Json::object()},
              {"status", "Failure"}, {"message", message}, {"reason", reason},
              {"code", code}};
}

ServerResponse failure(int code, const std::string& reason, const std::string& message) {
  return json(code, statusObject(code, reason, message));
}

std::string now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string keyOf(const std::string& ns, const std::string& name) {
  return ns + "/" + name;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) break;
    start = at + 1;
  }
  return out;
}

// "a=b,c!=d,e" against a label map.
bool labelsMatch(const std::string& selector, const Json& object) {
  if (selector.empty()) return true;
  Json labels = object["metadata"].value("labels", Json::object());
  for (const std::string& term : split(selector, ',')) {
    if (term.empty()) continue;
    size_t ne = term.find("!=");
    size_t eq = term.find('=');
    if (ne != std::string::npos) {
      std::string key = term.substr(0, ne), value = term.substr(ne + 2);
      if (labels.contains(key) && labels[key] == value) return false;
    } else if (eq != std::string::npos) {
      std::string key = term.substr(0, eq);
      std::string value = term.substr(term[eq + 1] == '=' ? eq + 2 : eq + 1);
      if (!labels.contains(key) || labels[key] != value) return false;
    } else if (!labels.contains(term)) {
      return false;
    }
  }
  return true;
}

// "spec.nodeName=n1,metadata.name!=x": dotted paths compared as strings.
bool fieldsMatch(const std::string& selector, const Json& object) {
  if (selector.empty()) return true;
  for (const std::string& term : split(selector, ',')) {
    if (term.empty()) continue;
    bool negate = term.find("!=") != std::string::npos;
    size_t eq = term.find(negate ? "!=" : "=");
    std::string path = term.substr(0, eq);
    std::string value = term.substr(eq + (negate ? 2 : (term[eq + 1] == '=' ? 2 : 1)));
    const Json* at = &object;
    for (const std::string& part : split(path, '.')) {
      if (!at->is_object() || !at->contains(part)) {
        at = nullptr;
        break;
      }
      at = &(*at)[part];
    }
    std::string actual = at && at->is_string() ? at->get<std::string>() : "";
    if ((actual == value) == negate) return false;
  }
  return true;
}

}  // namespace

struct FakeKubeApi::Target {
  const KindInfo* kind = nullptr;
  std::string plural, ns, name, subresource;
};

FakeKubeApi::FakeKubeApi(FakeKubeApiOptions options) : options_(std::move(options)) {}

std::unique_ptr<FakeKubeApi> FakeKubeApi::start(FakeKubeApiOptions options) {
  std::unique_ptr<FakeKubeApi> api(new FakeKubeApi(options));
  net::HttpServerOptions so;
  so.threads = 16;  // watch streams hold a thread each
  so.tls = options.tls;
  so.name = "fake-kube-api";
  auto server = net::HttpServer::start(
      so, [raw = api.get()](const ServerRequest& r) { return raw->handle(r); });
  if (!server) throw std::runtime_error("fake kube api: " + server.error().toString());
  api->server_ = std::move(*server);
  return api;
}

FakeKubeApi::~FakeKubeApi() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (server_) server_->stop();
}

std::string FakeKubeApi::url() const {
  return server_->baseUrl();
}

k8s::ClientConfig FakeKubeApi::clientConfig() const {
  k8s::ClientConfig c;
  c.server = url();
  c.token = options_.token;
  c.insecureSkipVerify = true;
  c.timeout = std::chrono::seconds(10);
  return c;
}

uint64_t FakeKubeApi::resourceVersion() const {
  std::lock_guard lock(mu_);
  return rv_;
}

void FakeKubeApi::failNext(const std::string& method, const std::string& pathPart, int status,
                           const std::string& reason, int count) {
  std::lock_guard lock(mu_);
  failures_.push_back(Failure{method, pathPart, reason, status, count});
}

std::vector<RecordedRequest> FakeKubeApi::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

void FakeKubeApi::clearRequests() {
  std::lock_guard lock(mu_);
  requests_.clear();
}

void FakeKubeApi::compactHistory() {
  std::lock_guard lock(mu_);
  history_.clear();
  // Every version handed out so far becomes too old; new writes continue above it.
  compactedThrough_ = ++rv_;
}

void FakeKubeApi::closeWatches() {
  {
    std::lock_guard lock(mu_);
    ++closeGeneration_;
  }
  changed_.notify_all();
}

std::optional<Json> FakeKubeApi::object(const std::string& plural, const std::string& ns,
                                        const std::string& name) const {
  std::lock_guard lock(mu_);
  auto kind = store_.find(plural);
  if (kind == store_.end()) return std::nullopt;
  auto it = kind->second.find(keyOf(ns, name));
  if (it == kind->second.end()) return std::nullopt;
  return it->second;
}

std::vector<Json> FakeKubeApi::objects(const std::string& plural, const std::string& ns) const {
  std::lock_guard lock(mu_);
  std::vector<Json> out;
  auto kind = store_.find(plural);
  if (kind == store_.end()) return out;
  for (const auto& [key, obj] : kind->second) {
    if (ns.empty() || obj["metadata"].value("namespace", "") == ns) out.push_back(obj);
  }
  return out;
}

Json FakeKubeApi::seed(const std::string& plural, const Json& object) {
  const KindInfo* k = kindOf(plural);
  if (!k) throw std::invalid_argument("fake kube api: unknown resource " + plural);
  Json o = object;
  o["kind"] = k->kind;
  o["apiVersion"] = apiVersionOf(*k);
  auto& meta = o["metadata"];
  if (!meta.contains("uid")) meta["uid"] = fmt::format("seed-uid-{}", ++uidCounter_);
  if (!meta.contains("creationTimestamp")) meta["creationTimestamp"] = now();
  std::lock_guard lock(mu_);
  std::string key = keyOf(meta.value("namespace", ""), meta.value("name", ""));
  bool existed = store_[plural].contains(key);
  Json stored = storeLocked(plural, std::move(o), existed);
  changed_.notify_all();
  return stored;
}

void FakeKubeApi::recordLocked(const std::string& type, const std::string& plural,
                               const Json& object) {
  history_.push_back(Event{rv_, type, plural, object});
  while (history_.size() > options_.historyLimit) {
    compactedThrough_ = history_.front().rv;
    history_.pop_front();
  }
}

Json FakeKubeApi::storeLocked(const std::string& plural, Json object, bool existed) {
  auto& meta = object["metadata"];
  std::string key = keyOf(meta.value("namespace", ""), meta.value("name", ""));
  ++rv_;
  meta["resourceVersion"] = std::to_string(rv_);
  bool finalizersLeft =
      meta.contains("finalizers") && meta["finalizers"].is_array() && !meta["finalizers"].empty();
  if (meta.contains("finalizers") && meta["finalizers"].is_array() && meta["finalizers"].empty())
    meta.erase("finalizers");
  if (meta.contains("deletionTimestamp") && !finalizersLeft) {
    store_[plural].erase(key);
    recordLocked("DELETED", plural, object);
    return object;
  }
  store_[plural][key] = object;
  recordLocked(existed ? "MODIFIED" : "ADDED", plural, object);
  return object;
}

ServerResponse FakeKubeApi::handle(const ServerRequest& request) {
  {
    std::lock_guard lock(mu_);
    requests_.push_back(RecordedRequest{request.method, request.path, request.query,
                                        request.header("Content-Type"), request.body});
    for (auto it = failures_.begin(); it != failures_.end(); ++it) {
      if (it->method == request.method && request.path.find(it->pathPart) != std::string::npos) {
        Failure f = *it;
        if (--it->count <= 0) failures_.erase(it);
        return failure(f.status, f.reason, "injected failure");
      }
    }
  }
  if (!options_.token.empty() && request.header("Authorization") != "Bearer " + options_.token) {
    return failure(401, "Unauthorized", "Unauthorized");
  }
  // /api/v1/... or /apis/<group>/<version>/...
  std::vector<std::string> seg;
  for (auto& s : split(request.path, '/')) {
    if (!s.empty()) seg.push_back(net::percentDecode(s, false));
  }
  std::string group, version;
  size_t i = 0;
  if (seg.size() >= 2 && seg[0] == "api") {
    version = seg[1];
    i = 2;
  } else if (seg.size() >= 3 && seg[0] == "apis") {
    group = seg[1];
    version = seg[2];
    i = 3;
  } else {
    return failure(404, "NotFound", "the server could not find the requested resource");
  }
  Target t;
  if (seg.size() - i >= 3 && seg[i] == "namespaces") {
    t.ns = seg[i + 1];
    i += 2;
  }
  if (i >= seg.size() || seg.size() - i > 3) {
    return failure(404, "NotFound", "the server could not find the requested resource");
  }
  t.plural = seg[i];
  if (i + 1 < seg.size()) t.name = seg[i + 1];
  if (i + 2 < seg.size()) t.subresource = seg[i + 2];
  t.kind = kindOf(t.plural);
  if (!t.kind || t.kind->group != group || t.kind->version != version) {
    return failure(404, "NotFound", "the server could not find the requested resource");
  }
  if (!t.kind->namespaced) t.ns.clear();
  if (!t.subresource.empty() && (t.subresource != "status" || !t.kind->hasStatus)) {
    return failure(404, "NotFound", "no such subresource: " + t.subresource);
  }
  return dispatch(request, t);
}

ServerResponse FakeKubeApi::dispatch(const ServerRequest& request, const Target& t) {
  const std::string& m = request.method;
  if (t.name.empty()) {
    if (m == "GET") {
      return request.queryParam("watch").value_or("") == "true" ? doWatch(t, request)
                                                                : doList(t, request);
    }
    if (m == "POST") {
      Json body = Json::parse(request.body, nullptr, false);
      if (!body.is_object()) return failure(400, "BadRequest", "the body is not a JSON object");
      return doCreate(t, body);
    }
    return failure(405, "MethodNotAllowed", "method not allowed on a collection");
  }
  if (m == "GET") {
    std::lock_guard lock(mu_);
    auto& objects = store_[t.plural];
    auto it = objects.find(keyOf(t.ns, t.name));
    if (it == objects.end()) {
      return failure(404, "NotFound", fmt::format("{} \"{}\" not found", t.plural, t.name));
    }
    return json(200, it->second);
  }
  if (m == "PUT") {
    Json body = Json::parse(request.body, nullptr, false);
    if (!body.is_object()) return failure(400, "BadRequest", "the body is not a JSON object");
    return doUpdate(t, std::move(body));
  }
  if (m == "PATCH") {
    Json body = Json::parse(request.body, nullptr, false);
    if (body.is_discarded()) return failure(400, "BadRequest", "the patch is not JSON");
    return doPatch(t, request.header("Content-Type"), body);
  }
  if (m == "DELETE") return doDelete(t);
  return failure(405, "MethodNotAllowed", "method not allowed");
}

ServerResponse FakeKubeApi::doCreate(const Target& t, const Json& body) {
  Json o = body;
  if (!o.contains("metadata") || !o["metadata"].is_object()) o["metadata"] = Json::object();
  auto& meta = o["metadata"];
  std::lock_guard lock(mu_);
  if (!meta.contains("name") || meta["name"].get<std::string>().empty()) {
    std::string prefix = meta.value("generateName", "");
    if (prefix.empty()) return failure(422, "Invalid", "metadata.name: Required value");
    static constexpr char kChars[] = "bcdfghjklmnpqrstvwxz2456789";
    std::string suffix;
    for (uint64_t n = rv_ * 7919 + uidCounter_; suffix.size() < 5; n /= 27)
      suffix += kChars[n % 27];
    meta["name"] = prefix + suffix;
  }
  if (t.kind->namespaced) {
    std::string bodyNs = meta.value("namespace", "");
    if (!bodyNs.empty() && bodyNs != t.ns) {
      return failure(400, "BadRequest", "the namespace of the object does not match the URL");
    }
    meta["namespace"] = t.ns;
  }
  std::string name = meta["name"];
  if (store_[t.plural].contains(keyOf(t.ns, name))) {
    return failure(409, "AlreadyExists", fmt::format("{} \"{}\" already exists", t.plural, name));
  }
  o["kind"] = t.kind->kind;
  o["apiVersion"] = apiVersionOf(*t.kind);
  meta["uid"] = fmt::format("00000000-0000-4000-8000-{:012d}", ++uidCounter_);
  meta["creationTimestamp"] = now();
  meta.erase("deletionTimestamp");
  return json(201, storeLocked(t.plural, std::move(o), false));
}

ServerResponse FakeKubeApi::doUpdate(const Target& t, Json body) {
  std::lock_guard lock(mu_);
  auto& objects = store_[t.plural];
  auto it = objects.find(keyOf(t.ns, t.name));
  if (it == objects.end()) {
    return failure(404, "NotFound", fmt::format("{} \"{}\" not found", t.plural, t.name));
  }
  const Json& old = it->second;
  if (!body.contains("metadata") || !body["metadata"].is_object())
    body["metadata"] = Json::object();
  std::string rv = body["metadata"].value("resourceVersion", "");
  if (!rv.empty() && rv != old["metadata"]["resourceVersion"].get<std::string>()) {
    return failure(409, "Conflict",
                   fmt::format("Operation cannot be fulfilled on {} \"{}\": the object has been "
                               "modified; please apply your changes to the latest version and try "
                               "again",
                               t.plural, t.name));
  }
  if (body["metadata"].value("name", t.name) != t.name) {
    return failure(400, "BadRequest", "the name of the object does not match the URL");
  }
  Json updated;
  if (t.subresource == "status") {
    updated = old;
    updated["status"] = body.value("status", Json::object());
  } else {
    updated = body;
    auto& meta = updated["metadata"];
    // The server owns these fields.
    for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp", "namespace", "name"}) {
      if (old["metadata"].contains(f)) meta[f] = old["metadata"][f];
    }
    if (t.kind->hasStatus) {
      if (old.contains("status"))
        updated["status"] = old["status"];
      else
        updated.erase("status");
    }
    updated["kind"] = t.kind->kind;
    updated["apiVersion"] = apiVersionOf(*t.kind);
  }
  Json stored = storeLocked(t.plural, std::move(updated), true);
  changed_.notify_all();
  return json(200, stored);
}

ServerResponse FakeKubeApi::doPatch(const Target& t, const std::string& contentType,
                                    const Json& body) {
  Json current;
  {
    std::lock_guard lock(mu_);
    auto& objects = store_[t.plural];
    auto it = objects.find(keyOf(t.ns, t.name));
    if (it == objects.end()) {
      return failure(404, "NotFound", fmt::format("{} \"{}\" not found", t.plural, t.name));
    }
    current = it->second;
  }
  Json patched;
  std::string type = contentType.substr(0, contentType.find(';'));
  try {
    if (type == "application/json-patch+json") {
      if (!body.is_array()) return failure(400, "BadRequest", "a JSON patch must be an array");
      patched = current.patch(body);
    } else if (type == "application/merge-patch+json" ||
               type == "application/strategic-merge-patch+json") {
      // Strategic merge is treated as a plain merge patch (enough for our callers).
      patched = current;
      patched.merge_patch(body);
    } else {
      return failure(415, "UnsupportedMediaType", "unsupported patch type " + contentType);
    }
  } catch (const nlohmann::json::exception& e) {
    return failure(422, "Invalid", std::string("the patch cannot be applied: ") + e.what());
  }
  // Without a resourceVersion in the patch the write is unconditional, as on a real server;
  // the version read above is only stale if another write got in between (then 409).
  if (!patched.contains("metadata") || !patched["metadata"].is_object()) {
    return failure(422, "Invalid", "the patch removed metadata");
  }
  if (body.is_object() && body.contains("metadata") && body["metadata"].is_object() &&
      body["metadata"].contains("resourceVersion")) {
    // kept as given: doUpdate compares it
  } else {
    patched["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"];
  }
  return doUpdate(t, std::move(patched));
}

ServerResponse FakeKubeApi::doDelete(const Target& t) {
  std::lock_guard lock(mu_);
  auto& objects = store_[t.plural];
  auto it = objects.find(keyOf(t.ns, t.name));
  if (it == objects.end()) {
    return failure(404, "NotFound", fmt::format("{} \"{}\" not found", t.plural, t.name));
  }
  Json o = it->second;
  auto& meta = o["metadata"];
  if (meta.contains("finalizers") && !meta["finalizers"].empty()) {
    if (meta.contains("deletionTimestamp")) return json(200, o);  // already being deleted
    meta["deletionTimestamp"] = now();
    meta["deletionGracePeriodSeconds"] = 0;
    Json stored = storeLocked(t.plural, std::move(o), true);
    changed_.notify_all();
    return json(200, stored);
  }
  objects.erase(it);
  ++rv_;
  meta["resourceVersion"] = std::to_string(rv_);
  recordLocked("DELETED", t.plural, o);
  changed_.notify_all();
  return json(200, o);
}

ServerResponse FakeKubeApi::doList(const Target& t, const ServerRequest& request) {
  std::string labels = request.queryParam("labelSelector").value_or("");
  std::string fields = request.queryParam("fieldSelector").value_or("");
  // Pages: `limit` items at most, `continue` is the key of the last item of the previous page.
  size_t limit = 0;
  if (auto l = request.queryParam("limit")) {
    try {
      limit = std::stoul(*l);
    } catch (...) {
      return failure(400, "BadRequest", "limit is not a number");
    }
  }
  std::string after = request.queryParam("continue").value_or("");
  std::lock_guard lock(mu_);
  Json items = Json::array();
  std::string lastKey;
  bool more = false;
  for (const auto& [key, obj] : store_[t.plural]) {
    if (!after.empty() && key <= after) continue;
    if (!t.ns.empty() && obj["metadata"].value("namespace", "") != t.ns) continue;
    if (!labelsMatch(labels, obj) || !fieldsMatch(fields, obj)) continue;
    if (limit > 0 && items.size() == limit) {
      more = true;
      break;
    }
    items.push_back(obj);
    lastKey = key;
  }
  Json meta{{"resourceVersion", std::to_string(rv_)}};
  if (more) meta["continue"] = lastKey;
  return json(200, Json{{"kind", std::string(t.kind->kind) + "List"},
                        {"apiVersion", apiVersionOf(*t.kind)},
                        {"metadata", std::move(meta)},
                        {"items", std::move(items)}});
}

ServerResponse FakeKubeApi::doWatch(const Target& t, const ServerRequest& request) {
  std::string labels = request.queryParam("labelSelector").value_or("");
  std::string fields = request.queryParam("fieldSelector").value_or("");
  std::string from = request.queryParam("resourceVersion").value_or("");
  int timeout = options_.maxWatchSeconds;
  if (auto ts = request.queryParam("timeoutSeconds")) {
    try {
      timeout = std::min(timeout, std::max(1, std::stoi(*ts)));
    } catch (...) {
      return failure(400, "BadRequest", "timeoutSeconds is not a number");
    }
  }
  uint64_t cursor = 0;
  std::string initial;
  auto matches = [t, labels, fields](const std::string& plural, const Json& obj) {
    if (plural != t.plural) return false;
    if (!t.ns.empty() && obj["metadata"].value("namespace", "") != t.ns) return false;
    return labelsMatch(labels, obj) && fieldsMatch(fields, obj);
  };
  uint64_t generation;
  {
    std::lock_guard lock(mu_);
    generation = closeGeneration_;
    if (from.empty() || from == "0") {
      // "Any version": the current objects first, as ADDED events.
      for (const auto& [key, obj] : store_[t.plural]) {
        if (matches(t.plural, obj))
          initial += Json{{"type", "ADDED"}, {"object", obj}}.dump() + "\n";
      }
      cursor = rv_;
    } else {
      try {
        cursor = std::stoull(from);
      } catch (...) {
        return failure(400, "BadRequest", "resourceVersion is not a number");
      }
      if (cursor < compactedThrough_) {
        Json status = statusObject(
            410, "Expired",
            fmt::format("too old resource version: {} ({})", cursor, compactedThrough_ + 1));
        // As the API server does: the stream starts, then ends with an ERROR event.
        return ServerResponse{200,
                              {{"Content-Type", "application/json"}},
                              Json{{"type", "ERROR"}, {"object", status}}.dump() + "\n"};
      }
    }
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
  auto state = std::make_shared<std::pair<uint64_t, std::string>>(cursor, std::move(initial));
  ServerResponse response{200, {{"Content-Type", "application/json"}}, ""};
  response.stream = [this, state, matches, deadline, generation](std::string& out) {
    if (!state->second.empty()) {
      out = std::move(state->second);
      state->second.clear();
      return true;
    }
    std::unique_lock lock(mu_);
    auto pending = [&] { return !history_.empty() && history_.back().rv > state->first; };
    changed_.wait_until(
        lock, std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(200)),
        [&] { return stopping_ || generation != closeGeneration_ || pending(); });
    for (const Event& e : history_) {
      if (e.rv <= state->first) continue;
      if (matches(e.plural, e.object)) {
        out += Json{{"type", e.type}, {"object", e.object}}.dump() + "\n";
      }
      state->first = e.rv;
    }
    if (!out.empty()) return true;
    return !(stopping_ || generation != closeGeneration_ ||
             std::chrono::steady_clock::now() >= deadline);
  };
  return response;
}

}  // namespace pp::fakes
