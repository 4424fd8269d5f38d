// Kubernetes REST client (see client.h).
#include "k8s/client.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "base/files.h"
#include "base/json_fields.h"
#include "base/log.h"

namespace pp::k8s {
namespace {

constexpr size_t kMaxTokenBytes = 1u << 20;
// One watch event line; a bigger one means a broken or hostile server.
constexpr size_t kMaxWatchLineBytes = 16u << 20;
// API objects nest a few dozen levels at most; deeper answers are refused as malformed.
constexpr int kMaxJsonDepth = 512;
constexpr int kDefaultListPageSize = 500;

Code codeFor(long status, const std::string& reason) {
  switch (status) {
    case 422:
      return Code::kInvalidArgument;
    case 405:
    case 415:
      return Code::kUnimplemented;
    case 409:
      return reason == "AlreadyExists" ? Code::kAlreadyExists : Code::kAborted;
    case 410:
      return Code::kOutOfRange;
    case 500:
      return Code::kInternal;
    case 504:
      return Code::kDeadlineExceeded;
    default:
      return net::codeForHttpStatus(status, Code::kUnknown);
  }
}

std::string defaultReason(long status) {
  switch (status) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    default:
      return status >= 500 ? "InternalError" : "Unknown";
  }
}

std::string query(std::initializer_list<std::pair<const char*, std::string>> params) {
  std::string out;
  for (const auto& [key, value] : params) {
    if (value.empty()) continue;
    out += out.empty() ? '?' : '&';
    out += key;
    out += '=';
    out += net::urlEncode(value);
  }
  return out;
}

std::string contentTypeOf(PatchType type) {
  switch (type) {
    case PatchType::kJsonPatch:
      return "application/json-patch+json";
    case PatchType::kMergePatch:
      return "application/merge-patch+json";
    case PatchType::kStrategicMergePatch:
      return "application/strategic-merge-patch+json";
  }
  return "application/json";
}

std::string describe(const Resource& r, const std::string& ns, const std::string& name) {
  std::string kind = r.group.empty() ? r.plural : r.plural + "." + r.group;
  if (!r.namespaced || ns.empty()) return name.empty() ? kind : kind + " " + name;
  return name.empty() ? fmt::format("{} in {}", kind, ns) : fmt::format("{} {}/{}", kind, ns, name);
}

// Objects we hand out carry an object "metadata"; the server's Status answers may lack it.
bool wellFormed(const Json& object) {
  return object.is_object() && (!object.contains("metadata") || object["metadata"].is_object());
}

}  // namespace

std::string field(const Json& object, std::string_view section, std::string_view key) {
  if (!object.is_object()) return {};
  auto s = object.find(section);
  if (s == object.end() || !s->is_object()) return {};
  auto f = s->find(key);
  return f != s->end() && f->is_string() ? f->get<std::string>() : std::string();
}

std::string stringOf(const Json& object, std::string_view key) {
  if (!object.is_object()) return {};
  auto f = object.find(key);
  return f != object.end() && f->is_string() ? f->get<std::string>() : std::string();
}

Error apiError(long status, const std::string& body, std::string_view what) {
  std::string reason;
  std::string message;
  Json parsed = Json::parse(body, nullptr, false);
  if (stringOf(parsed, "kind") == "Status") {
    reason = stringOf(parsed, "reason");
    message = stringOf(parsed, "message");
  }
  if (reason.empty()) reason = defaultReason(status);
  if (message.empty()) {
    // Not a Status (a proxy in between, say): a short excerpt of the body helps.
    message = body.substr(0, 200);
    std::replace_if(
        message.begin(), message.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  }
  return Error(codeFor(status, reason),
               fmt::format("{}: {}: {} (HTTP {})", what, reason, message, status));
}

// The bearer token, re-read from its file whenever the file changes.
struct Client::TokenCache {
  std::mutex mu;
  std::string token;
  struct timespec mtime {};
  off_t size = -1;

  std::string get(const ClientConfig& config) {
    if (config.tokenFile.empty()) return config.token;
    std::lock_guard lock(mu);
    struct stat st {};
    if (::stat(config.tokenFile.c_str(), &st) != 0) return token.empty() ? config.token : token;
    if (st.st_mtim.tv_sec != mtime.tv_sec || st.st_mtim.tv_nsec != mtime.tv_nsec ||
        st.st_size != size) {
      auto text = files::readFile(config.tokenFile, kMaxTokenBytes);
      if (text) {
        std::string t = *text;
        while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' '))
          t.pop_back();
        token = t;
        mtime = st.st_mtim;
        size = st.st_size;
      } else {
        log::warn("k8s", "cannot re-read the API token file: {}", text.error().message);
      }
    }
    return token.empty() ? config.token : token;
  }
};

Client::Client(ClientConfig config, net::HttpClient http)
    : config_(std::move(config)), http_(std::move(http)), token_(std::make_unique<TokenCache>()) {}
Client::~Client() = default;

std::string Client::path(const Resource& r, const std::string& ns, const std::string& name,
                         const std::string& subresource) {
  std::string out =
      r.group.empty() ? "/api/" + r.version : fmt::format("/apis/{}/{}", r.group, r.version);
  if (r.namespaced && !ns.empty()) out += "/namespaces/" + net::urlEncode(ns);
  out += "/" + r.plural;
  if (!name.empty()) out += "/" + net::urlEncode(name);
  if (!subresource.empty()) out += "/" + subresource;
  return out;
}

void Client::prepare(net::HttpRequest& request) const {
  request.headers.emplace_back("Accept", "application/json");
  request.headers.emplace_back("User-Agent", "peerpods/0.1");
  std::string token = token_->get(config_);
  if (!token.empty()) request.headers.emplace_back("Authorization", "Bearer " + token);
  request.caPem = config_.caPem;
  request.caFile = config_.caFile;
  request.insecureSkipVerify = config_.insecureSkipVerify;
  request.clientCertPem = config_.clientCertPem;
  request.clientKeyPem = config_.clientKeyPem;
  request.clientCertFile = config_.clientCertFile;
  request.clientKeyFile = config_.clientKeyFile;
  request.timeout = config_.timeout;
}

Result<net::HttpResponse> Client::call(const std::string& method, const std::string& pathAndQuery,
                                       const std::string& contentType,
                                       const std::string& body) const {
  net::HttpRequest request;
  request.method = method;
  request.url = config_.server + pathAndQuery;
  prepare(request);
  if (!contentType.empty()) request.headers.emplace_back("Content-Type", contentType);
  request.body = body;
  return http_.send(request);
}

Result<Json> Client::callJson(const std::string& method, const std::string& pathAndQuery,
                              const std::string& contentType, const std::string& body,
                              std::string_view what) const {
  auto response = call(method, pathAndQuery, contentType, body);
  if (!response) return fail(response.error().wrap(what));
  if (!response->ok()) return fail(apiError(response->status, response->body, what));
  Json out = jsonf::parseBounded(response->body, kMaxJsonDepth);
  if (out.is_discarded() || !out.is_object()) {
    return fail(Code::kInternal,
                fmt::format("{}: the API server answered with invalid JSON", what));
  }
  return out;
}

Result<Json> Client::get(const Resource& r, const std::string& ns, const std::string& name,
                         const std::string& subresource) const {
  return callJson("GET", path(r, ns, name, subresource), "", "", "get " + describe(r, ns, name));
}

Result<Json> Client::list(const Resource& r, const std::string& ns,
                          const ListOptions& options) const {
  Json all;
  std::string continueToken;
  for (int page = 0;; ++page) {
    std::string q = query(
        {{"labelSelector", options.labelSelector},
         {"fieldSelector", options.fieldSelector},
         {"resourceVersion", continueToken.empty() ? options.resourceVersion : ""},
         {"limit", std::to_string(options.pageSize > 0 ? options.pageSize : kDefaultListPageSize)},
         {"continue", continueToken}});
    auto result = callJson("GET", path(r, ns) + q, "", "", "list " + describe(r, ns, ""));
    if (!result) return result;
    if (!result->contains("items") || !(*result)["items"].is_array()) {
      if (result->contains("items") && (*result)["items"].is_null()) {
        (*result)["items"] = Json::array();
      } else {
        return fail(Code::kInternal, "list " + describe(r, ns, "") + ": answer without items");
      }
    }
    for (auto& item : (*result)["items"]) {
      if (!item.is_object() || !item.contains("metadata") || !item["metadata"].is_object()) {
        return fail(Code::kInternal, "list " + describe(r, ns, "") + ": an item without metadata");
      }
    }
    if (page == 0) {
      all = std::move(*result);
    } else {
      for (auto& item : (*result)["items"]) all["items"].push_back(std::move(item));
      all["metadata"] = (*result)["metadata"];
    }
    continueToken = field(all, "metadata", "continue");
    if (continueToken.empty()) break;
  }
  if (all.contains("metadata") && all["metadata"].is_object()) all["metadata"].erase("continue");
  return all;
}

Result<Json> Client::create(const Resource& r, const std::string& ns, const Json& object) const {
  std::string name = field(object, "metadata", "name");
  return callJson("POST", path(r, ns), "application/json", object.dump(),
                  "create " + describe(r, ns, name));
}

Result<Json> Client::update(const Resource& r, const std::string& ns, const Json& object,
                            const std::string& subresource) const {
  std::string name = field(object, "metadata", "name");
  if (name.empty()) return fail(Code::kInvalidArgument, "update: the object has no metadata.name");
  return callJson("PUT", path(r, ns, name, subresource), "application/json", object.dump(),
                  "update " + describe(r, ns, name));
}

Result<Json> Client::patch(const Resource& r, const std::string& ns, const std::string& name,
                           PatchType type, const Json& patch,
                           const std::string& subresource) const {
  return callJson("PATCH", path(r, ns, name, subresource), contentTypeOf(type), patch.dump(),
                  "patch " + describe(r, ns, name));
}

Result<Json> Client::remove(const Resource& r, const std::string& ns, const std::string& name,
                            const Json& deleteOptions) const {
  return callJson("DELETE", path(r, ns, name), deleteOptions.is_null() ? "" : "application/json",
                  deleteOptions.is_null() ? "" : deleteOptions.dump(),
                  "delete " + describe(r, ns, name));
}

Result<std::optional<WatchEvent>> parseWatchLine(std::string_view line, std::string_view what) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  if (line.empty()) return std::optional<WatchEvent>();
  Json event = jsonf::parseBounded(line, kMaxJsonDepth);
  if (!event.is_object() || !event.contains("type") || !event["type"].is_string() ||
      !event.contains("object") || !wellFormed(event["object"])) {
    return fail(Code::kInternal, std::string(what) + ": malformed watch event");
  }
  WatchEvent e{event["type"].get<std::string>(), std::move(event["object"])};
  if (e.type == "ERROR") {
    long code = e.object.contains("code") && e.object["code"].is_number_integer()
                    ? e.object["code"].get<long>()
                    : 500;
    return fail(apiError(code, e.object.dump(), what));
  }
  if (!e.object.contains("metadata")) {
    return fail(Code::kInternal, std::string(what) + ": watch event object without metadata");
  }
  return std::optional<WatchEvent>(std::move(e));
}

Result<std::string> Client::watch(const Resource& r, const std::string& ns,
                                  const WatchOptions& options,
                                  const std::function<bool(const WatchEvent&)>& onEvent,
                                  std::stop_token stop) const {
  std::string what = "watch " + describe(r, ns, "");
  net::HttpRequest request;
  request.method = "GET";
  request.url = config_.server + path(r, ns) +
                query({{"watch", "true"},
                       {"resourceVersion", options.resourceVersion},
                       {"labelSelector", options.labelSelector},
                       {"fieldSelector", options.fieldSelector},
                       {"allowWatchBookmarks", options.allowBookmarks ? "true" : ""},
                       {"timeoutSeconds", std::to_string(options.timeoutSeconds)}});
  prepare(request);
  // The server ends the stream after timeoutSeconds; allow a margin before giving up on it.
  request.timeout = std::chrono::seconds(options.timeoutSeconds) + config_.timeout;

  std::string lastVersion = options.resourceVersion;
  std::string buffer;
  std::optional<Error> streamError;
  bool stoppedByHandler = false;
  auto handleLine = [&](std::string_view line) -> bool {
    auto parsed = parseWatchLine(line, what);
    if (!parsed) {
      streamError = parsed.error();
      return false;
    }
    if (!*parsed) return true;
    const WatchEvent& e = **parsed;
    std::string v = field(e.object, "metadata", "resourceVersion");
    if (!v.empty()) lastVersion = v;
    if (!onEvent(e)) {
      stoppedByHandler = true;
      return false;
    }
    return true;
  };
  request.onBody = [&](std::string_view piece) {
    buffer.append(piece);
    size_t start = 0;
    for (;;) {
      size_t nl = buffer.find('\n', start);
      if (nl == std::string::npos) break;
      if (!handleLine(std::string_view(buffer).substr(start, nl - start))) return false;
      start = nl + 1;
    }
    buffer.erase(0, start);
    if (buffer.size() > kMaxWatchLineBytes) {
      streamError = Error(Code::kResourceExhausted, what + ": watch event larger than 16 MiB");
      return false;
    }
    return true;
  };
  request.cancelled = [&stop] { return stop.stop_requested(); };

  auto response = http_.send(request);
  if (streamError) return fail(*streamError);
  if (stoppedByHandler) return lastVersion;
  if (!response) {
    if (stop.stop_requested()) return fail(Code::kCancelled, what + ": stopped");
    return fail(response.error().wrap(what));
  }
  if (!response->ok()) return fail(apiError(response->status, response->body, what));
  // A final line without a newline.
  if (!buffer.empty() && !handleLine(buffer) && streamError) return fail(*streamError);
  return lastVersion;
}

void runInformer(const Client& client, const Resource& r, const std::string& ns,
                 const ListOptions& selectors, const InformerHandlers& handlers,
                 std::stop_token stop, int watchTimeoutSeconds) {
  std::mutex mu;
  std::condition_variable_any cv;
  auto sleepFor = [&](std::chrono::milliseconds d) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, stop, d, [] { return false; });
  };
  std::chrono::milliseconds backoff{200};
  const std::chrono::milliseconds maxBackoff{30000};
  std::string version;
  while (!stop.stop_requested()) {
    if (version.empty()) {
      auto listed = client.list(r, ns, selectors);
      if (!listed) {
        log::warn("k8s", "{}; retrying in {} ms", listed.error().message, backoff.count());
        sleepFor(backoff);
        backoff = std::min(backoff * 2, maxBackoff);
        continue;
      }
      version = field(*listed, "metadata", "resourceVersion");
      if (handlers.onList) handlers.onList(*listed);
      if (version.empty()) version = "0";
    }
    WatchOptions options;
    options.resourceVersion = version;
    options.labelSelector = selectors.labelSelector;
    options.fieldSelector = selectors.fieldSelector;
    options.timeoutSeconds = watchTimeoutSeconds;
    auto last = client.watch(
        r, ns, options,
        [&](const WatchEvent& e) {
          if (e.type != "BOOKMARK" && handlers.onEvent) handlers.onEvent(e);
          return true;
        },
        stop);
    if (last) {
      version = *last;  // the server ended the stream: resume where it stopped
      backoff = std::chrono::milliseconds(200);
      continue;
    }
    if (stop.stop_requested()) break;
    if (isGone(last.error())) {
      log::info("k8s", "watch of {} expired ({}); listing again", r.plural, last.error().message);
      version.clear();
      continue;
    }
    log::warn("k8s", "{}; retrying in {} ms", last.error().message, backoff.count());
    sleepFor(backoff);
    backoff = std::min(backoff * 2, maxBackoff);
  }
}

}  // namespace pp::k8s
