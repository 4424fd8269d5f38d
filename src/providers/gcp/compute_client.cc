// Compute Engine REST API client (see compute_client.h).
#include "providers/gcp/compute_client.h"

#include <thread>

#include "base/encoding.h"
#include "base/json_fields.h"
#include "base/log.h"
#include "base/random.h"

namespace pp::providers::gcp {
namespace {

using json = nlohmann::json;
constexpr const char* kLog = "gcp";
constexpr int kMaxPages = 50;

// int64 fields come as JSON strings in the Compute API ("diskSizeGb": "10"); int32 as numbers.
std::optional<int64_t> integer(const json& j, const char* name) {
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(name);
  if (it == j.end()) return std::nullopt;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
    return std::stoll(s);
  }
  return std::nullopt;
}

bool retryable(const GcpError& e) {
  if (e.httpStatus == 0 || e.httpStatus == 429 || e.httpStatus >= 500) return true;
  return e.httpStatus == 403 &&
         (e.reason == "rateLimitExceeded" || e.reason == "userRateLimitExceeded");
}

}  // namespace

GcpError parseError(const net::HttpResponse& r) {
  GcpError e;
  e.httpStatus = r.status;
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const json& err = j["error"];
    e.message = jsonf::stringField(err, "message");
    if (err.contains("errors") && err["errors"].is_array() && !err["errors"].empty())
      e.reason = jsonf::stringField(err["errors"][0], "reason");
    if (e.reason.empty()) e.reason = jsonf::stringField(err, "status");
  }
  if (e.message.empty()) e.message = r.body.substr(0, 200);
  if (e.message.size() > 1000) e.message.resize(1000);
  if (auto ra = r.header("Retry-After"); !ra.empty()) e.retryAfter = parseRetryAfter(ra);
  return e;
}

Error GcpError::toError(const std::string& context) const {
  Code code = net::codeForHttpStatus(httpStatus, Code::kUnknown);
  if (httpStatus == 0) {
    code = Code::kUnavailable;
  } else if (httpStatus == 403 && (reason.find("RateLimit") != std::string::npos ||
                                   reason.find("rateLimit") != std::string::npos ||
                                   reason.find("quota") != std::string::npos)) {
    code = Code::kResourceExhausted;
  } else if (httpStatus == 412) {
    code = Code::kFailedPrecondition;
  }

  std::string m = context + ": ";
  if (httpStatus != 0) {
    m += "HTTP " + std::to_string(httpStatus);
    if (!reason.empty()) m += " " + reason;
    m += ": ";
  }
  m += message;
  return Error{code, m};
}

std::string newRequestId() {
  return rnd::uuidV4();
}

std::optional<GcpOperation> parseOperation(const json& j) {
  GcpOperation op;
  op.name = jsonf::stringField(j, "name");
  op.status = jsonf::stringField(j, "status");
  if (op.name.empty() || op.status.empty()) return std::nullopt;
  if (auto it = j.find("error"); it != j.end() && it->is_object()) {
    auto errs = it->find("errors");
    if (errs != it->end() && errs->is_array() && !errs->empty()) {
      op.errorCode = jsonf::stringField((*errs)[0], "code");
      op.errorMessage = jsonf::stringField((*errs)[0], "message");
      for (size_t i = 1; i < errs->size() && i < 5; ++i)
        op.errorMessage += "; " + jsonf::stringField((*errs)[i], "code") + ": " +
                           jsonf::stringField((*errs)[i], "message");
    }
    if (op.errorCode.empty() && op.errorMessage.empty()) op.errorCode = "UNKNOWN";
  }
  if (auto s = integer(j, "httpErrorStatusCode")) op.httpErrorStatusCode = *s;
  if (op.failed() && op.errorMessage.empty())
    op.errorMessage = jsonf::stringField(j, "httpErrorMessage");
  return op;
}

std::optional<GcpInstance> parseInstance(const json& j) {
  GcpInstance i;
  i.name = jsonf::stringField(j, "name");
  if (i.name.empty()) return std::nullopt;
  if (auto id = integer(j, "id")) i.id = std::to_string(*id);
  i.status = jsonf::stringField(j, "status");
  if (auto nics = j.find("networkInterfaces"); nics != j.end() && nics->is_array()) {
    for (const auto& nic : *nics) {
      if (auto ip = jsonf::stringField(nic, "networkIP"); !ip.empty()) i.internalIps.push_back(ip);
      if (!nic.is_object()) continue;
      if (auto acs = nic.find("accessConfigs"); acs != nic.end() && acs->is_array()) {
        for (const auto& ac : *acs)
          if (auto ip = jsonf::stringField(ac, "natIP"); !ip.empty()) i.natIps.push_back(ip);
      }
    }
  }
  if (auto labels = j.find("labels"); labels != j.end() && labels->is_object()) {
    for (const auto& [k, v] : labels->items())
      if (v.is_string()) i.labels[k] = v.get<std::string>();
  }
  return i;
}

ComputeClient::ComputeClient(net::HttpClient http, std::shared_ptr<TokenSource> tokens,
                             ComputeClientOptions options)
    : http_(std::move(http)),
      tokens_(std::move(tokens)),
      options_(std::move(options)),
      calls_(options_.retry, options_.sleep, options_.mutatingCallsPerSecond) {
  while (!options_.endpoint.empty() && options_.endpoint.back() == '/')
    options_.endpoint.pop_back();
}

std::string ComputeClient::zonePath() const {
  return "/projects/" + net::urlEncode(options_.project) + "/zones/" +
         net::urlEncode(options_.zone);
}

std::expected<json, GcpError> ComputeClient::attempt(const std::string& method,
                                                     const std::string& url,
                                                     const std::string& body,
                                                     std::chrono::milliseconds timeout) {
  auto token = tokens_->token();
  if (!token) {
    // A token endpoint that is down or throttling is retried like the API; a refused
    // credential is final.
    bool transient =
        token.error().code == Code::kUnavailable || token.error().code == Code::kDeadlineExceeded;
    return std::unexpected(GcpError{0, transient ? "" : "credentials", token.error().message, {}});
  }
  net::HttpRequest req;
  req.method = method;
  req.url = url;
  req.headers = {{"Authorization", "Bearer " + *token}, {"Accept", "application/json"}};
  if (!body.empty() || method == "POST") {
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = body;
  }
  req.timeout = timeout.count() > 0 ? timeout : options_.timeout;
  req.maxResponseBytes = 16 << 20;
  auto r = http_.send(req);
  if (!r) return std::unexpected(GcpError{0, "", r.error().message, {}});
  if (!r->ok()) return std::unexpected(parseError(*r));
  json j = json::parse(r->body, nullptr, false);
  if (!j.is_object()) {
    return std::unexpected(
        GcpError{r->status, "badResponse", "the answer is not a JSON object", {}});
  }
  return j;
}

std::expected<json, GcpError> ComputeClient::call(const std::string& method,
                                                  const std::string& path, const json* body,
                                                  bool mutating,
                                                  std::chrono::milliseconds timeout) {
  // Absolute URLs reach other Google APIs (Resource Manager) with the same auth and retries.
  std::string url = path.rfind("http", 0) == 0 ? path : options_.endpoint + path;
  std::string payload = body ? body->dump() : std::string();
  bool refreshed = false;
  auto once = [&]() -> std::expected<json, GcpError> {
    auto r = attempt(method, url, payload, timeout);
    if (!r) refreshAfter401(r.error(), refreshed, *tokens_);
    return r;
  };
  auto classify = [&](const GcpError& e) -> RetryVerdict {
    if (e.reason == "credentials") return {};
    if (!retryable(e)) return {};
    log::warn(kLog, "{} {}: {} (retrying)", method, path,
              e.httpStatus ? "HTTP " + std::to_string(e.httpStatus) + " " + e.reason : e.message);
    return {true, e.retryAfter, e.httpStatus == 429};
  };
  return calls_.run(mutating, once, classify);
}

Status ComputeClient::waitOperation(const GcpOperation& first, const std::string& what) {
  GcpOperation op = first;
  auto deadline = std::chrono::steady_clock::now() + options_.operationTimeout;
  while (op.status != "DONE") {
    if (std::chrono::steady_clock::now() >= deadline) {
      return fail(Code::kDeadlineExceeded, what + ": operation " + op.name + " still " + op.status +
                                               " after the operation timeout");
    }
    auto started = std::chrono::steady_clock::now();
    auto r = call("POST", zonePath() + "/operations/" + net::urlEncode(op.name) + "/wait", nullptr,
                  false, options_.waitCallTimeout);
    if (!r) return fail(r.error().toError(what + ": waiting for operation " + op.name));
    auto next = parseOperation(*r);
    if (!next) return fail(Code::kInternal, what + ": operation answer without name or status");
    op = *next;
    if (op.status != "DONE" &&
        std::chrono::steady_clock::now() - started < options_.earlyWaitPause) {
      if (options_.sleep)
        options_.sleep(options_.earlyWaitPause);
      else
        std::this_thread::sleep_for(options_.earlyWaitPause);
    }
  }
  if (op.failed()) {
    Code code = op.httpErrorStatusCode == 404   ? Code::kNotFound
                : op.httpErrorStatusCode == 409 ? Code::kAlreadyExists
                : op.httpErrorStatusCode == 403 ? Code::kPermissionDenied
                : op.httpErrorStatusCode == 400 ? Code::kInvalidArgument
                : op.errorCode.find("QUOTA") != std::string::npos ||
                        op.errorCode.find("EXHAUSTED") != std::string::npos
                    ? Code::kResourceExhausted
                    : Code::kAborted;
    return fail(code, what + " failed: " + op.errorCode + ": " + op.errorMessage);
  }
  return {};
}

Result<GcpOperation> ComputeClient::startInsert(const json& instance) {
  std::string name = jsonf::stringField(instance, "name");
  auto r = call("POST", zonePath() + "/instances?requestId=" + newRequestId(), &instance, true);
  if (!r) return fail(r.error().toError("gcp: instances.insert " + name));
  auto op = parseOperation(*r);
  if (!op)
    return fail(Code::kInternal,
                "gcp: instances.insert " + name + ": the answer is not an operation");
  return *op;
}

Status ComputeClient::insertInstance(const json& instance) {
  auto op = startInsert(instance);
  if (!op) return fail(op.error());
  return waitOperation(*op, "gcp: creating instance " + jsonf::stringField(instance, "name"));
}

Status ComputeClient::deleteInstance(const std::string& name) {
  auto r = call("DELETE",
                zonePath() + "/instances/" + net::urlEncode(name) + "?requestId=" + newRequestId(),
                nullptr, true);
  if (!r) {
    if (r.error().httpStatus == 404) return {};
    return fail(r.error().toError("gcp: instances.delete " + name));
  }
  auto op = parseOperation(*r);
  if (!op)
    return fail(Code::kInternal,
                "gcp: instances.delete " + name + ": the answer is not an operation");
  auto st = waitOperation(*op, "gcp: deleting instance " + name);
  if (!st && st.error().code == Code::kNotFound) return {};
  return st;
}

Result<GcpInstance> ComputeClient::getInstance(const std::string& name) {
  auto r = call("GET", zonePath() + "/instances/" + net::urlEncode(name), nullptr, false);
  if (!r) return fail(r.error().toError("gcp: instances.get " + name));
  auto i = parseInstance(*r);
  if (!i)
    return fail(Code::kInternal, "gcp: instances.get " + name + ": the answer is not an instance");
  return *i;
}

Result<std::vector<GcpInstance>> ComputeClient::listInstances(const std::string& filter) {
  std::vector<GcpInstance> out;
  std::string pageToken;
  for (int page = 0; page < kMaxPages; ++page) {
    std::string path = zonePath() + "/instances?maxResults=500";
    if (!filter.empty()) path += "&filter=" + net::urlEncode(filter);
    if (!pageToken.empty()) path += "&pageToken=" + net::urlEncode(pageToken);
    auto r = call("GET", path, nullptr, false);
    if (!r) return fail(r.error().toError("gcp: instances.list"));
    if (auto items = r->find("items"); items != r->end()) {
      if (!items->is_array())
        return fail(Code::kInternal, "gcp: instances.list: items is not an array");
      for (const auto& it : *items)
        if (auto i = parseInstance(it)) out.push_back(std::move(*i));
    }
    pageToken = jsonf::stringField(*r, "nextPageToken");
    if (pageToken.empty()) return out;
  }
  return fail(Code::kOutOfRange,
              "gcp: instances.list: more than " + std::to_string(kMaxPages) + " pages");
}

std::optional<InstanceTypeInfo> parseMachineType(const json& j) {
  InstanceTypeInfo t;
  t.name = jsonf::stringField(j, "name");
  auto cpus = integer(j, "guestCpus");
  auto mem = integer(j, "memoryMb");
  if (t.name.empty() || !cpus || !mem || *cpus < 0 || *mem < 0 || *cpus > 100000 ||
      *mem > (1LL << 31))
    return std::nullopt;
  t.vcpus = static_cast<uint32_t>(*cpus);
  t.memoryMiB = static_cast<uint32_t>(*mem);
  if (auto acc = j.find("accelerators"); acc != j.end() && acc->is_array()) {
    for (const auto& a : *acc) {
      auto n = integer(a, "guestAcceleratorCount");
      if (n && *n > 0 && *n < 1000) t.gpus += static_cast<uint32_t>(*n);
      if (t.gpuModel.empty()) t.gpuModel = jsonf::stringField(a, "guestAcceleratorType");
    }
  }
  return t;
}

Result<std::vector<InstanceTypeInfo>> ComputeClient::listMachineTypes(
    const std::vector<std::string>& names) {
  std::vector<InstanceTypeInfo> out;
  if (!names.empty()) {
    for (const auto& n : names) {
      auto r = call("GET", zonePath() + "/machineTypes/" + net::urlEncode(n), nullptr, false);
      if (!r) return fail(r.error().toError("gcp: machineTypes.get " + n));
      auto t = parseMachineType(*r);
      if (!t)
        return fail(Code::kInternal,
                    "gcp: machineTypes.get " + n + ": no name, guestCpus or memoryMb");
      out.push_back(std::move(*t));
    }
    return out;
  }
  std::string pageToken;
  for (int page = 0; page < kMaxPages; ++page) {
    std::string path = zonePath() + "/machineTypes?maxResults=500";
    if (!pageToken.empty()) path += "&pageToken=" + net::urlEncode(pageToken);
    auto r = call("GET", path, nullptr, false);
    if (!r) return fail(r.error().toError("gcp: machineTypes.list"));
    if (auto items = r->find("items"); items != r->end() && items->is_array()) {
      for (const auto& it : *items)
        if (auto t = parseMachineType(it)) out.push_back(std::move(*t));
    }
    pageToken = jsonf::stringField(*r, "nextPageToken");
    if (pageToken.empty()) return out;
  }
  return fail(Code::kOutOfRange,
              "gcp: machineTypes.list: more than " + std::to_string(kMaxPages) + " pages");
}

Result<int64_t> ComputeClient::imageDiskSizeGb(const std::string& project,
                                               const std::string& image) {
  auto r = call("GET",
                "/projects/" + net::urlEncode(project) + "/global/images/" +
                    (image.rfind("family/", 0) == 0 ? "family/" + net::urlEncode(image.substr(7))
                                                    : net::urlEncode(image)),
                nullptr, false);
  if (!r) return fail(r.error().toError("gcp: images.get " + project + "/" + image));
  return integer(*r, "diskSizeGb").value_or(0);
}

}  // namespace pp::providers::gcp
