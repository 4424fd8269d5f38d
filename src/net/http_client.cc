#include "net/http_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <mutex>

#include "base/strings.h"

namespace pp::net {
namespace {

using strings::equalsIgnoreCase;

// Response headers beyond this are refused: no legitimate API sends that much.
constexpr size_t kMaxResponseHeaderBytes = 1 << 20;

void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool hasLineBreak(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos;
}

// The URL as it may appear in an error message: without user info and query, which can hold
// credentials (pre-signed URLs, SAS tokens).
std::string redactUrl(std::string_view url) {
  std::string out(url.substr(0, url.find_first_of("?#")));
  size_t scheme = out.find("://");
  size_t authorityStart = scheme == std::string::npos ? 0 : scheme + 3;
  size_t authorityEnd = out.find('/', authorityStart);
  size_t at = out.rfind('@', authorityEnd == std::string::npos ? out.size() : authorityEnd);
  if (at != std::string::npos && at >= authorityStart)
    out.erase(authorityStart, at + 1 - authorityStart);
  return out;
}

struct Transfer {
  HttpResponse response;
  size_t maxBody = 0;
  size_t headerBytes = 0;
  bool bodyTooLarge = false;
  bool headersTooLarge = false;
  // Streaming: the request's callbacks and the handle (to learn the status mid-transfer).
  const std::function<bool(std::string_view)>* sink = nullptr;
  const std::function<bool()>* cancelled = nullptr;
  CURL* handle = nullptr;
  bool stoppedBySink = false;
  bool stoppedByCancel = false;
};

size_t onBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  if (t->sink != nullptr) {
    long status = 0;
    curl_easy_getinfo(t->handle, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
      if (!(*t->sink)(std::string_view(data, n))) {
        t->stoppedBySink = true;
        return 0;
      }
      return n;
    }
  }
  if (n > t->maxBody - t->response.body.size()) {
    t->bodyTooLarge = true;
    return 0;  // anything but n aborts the transfer
  }
  t->response.body.append(data, n);
  return n;
}

size_t onHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  t->headerBytes += n;
  if (t->headerBytes > kMaxResponseHeaderBytes) {
    t->headersTooLarge = true;
    return 0;
  }
  std::string_view line(data, n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    // A new status line (after a 100 Continue, for instance): only the final response's
    // headers are kept.
    t->response.headers.clear();
    return n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return n;
  std::string_view name = line.substr(0, colon);
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  // libcurl hands on lines that are no header field (a bare CR inside the line, a name with
  // spaces or control bytes); they are dropped rather than kept with a CR in them.
  const bool nameOk = std::all_of(name.begin(), name.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
  if (!nameOk || value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
    return n;
  t->response.headers.emplace_back(name, value);
  return n;
}

int onProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if ((*t->cancelled)()) {
    t->stoppedByCancel = true;
    return 1;  // non-zero aborts the transfer
  }
  return 0;
}

struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct ListDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// Appends to a curl_slist, keeping ownership in `list`.
bool append(std::unique_ptr<curl_slist, ListDeleter>& list, const std::string& line) {
  curl_slist* grown = curl_slist_append(list.get(), line.c_str());
  if (!grown) return false;
  (void)list.release();
  list.reset(grown);
  return true;
}

curl_blob blobOf(const std::string& pem) {
  return curl_blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
}

}  // namespace

bool isMetadataServiceUrl(std::string_view url) {
  CURLU* u = curl_url();
  if (u == nullptr) return false;
  char* host = nullptr;
  bool metadata = false;
  if (curl_url_set(u, CURLUPART_URL, std::string(url).c_str(), 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host != nullptr) {
    std::string_view h(host);
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    std::string lower = strings::toLower(h);
    in_addr v4{};
    in6_addr v6{};
    if (::inet_pton(AF_INET, lower.c_str(), &v4) == 1) {
      const uint32_t a = ntohl(v4.s_addr);
      metadata = (a >> 16) == 0xa9fe /* 169.254/16 */ || a == 0x646464c8 /* 100.100.100.200 */;
    } else if (::inet_pton(AF_INET6, lower.c_str(), &v6) == 1) {
      static const in6_addr kAws = [] {
        in6_addr x{};
        ::inet_pton(AF_INET6, "fd00:ec2::254", &x);
        return x;
      }();
      const bool linkLocal = v6.s6_addr[0] == 0xfe && (v6.s6_addr[1] & 0xc0) == 0x80;
      metadata = linkLocal || std::memcmp(&v6, &kAws, sizeof v6) == 0;
    } else {
      metadata = lower == "metadata.google.internal" || lower == "metadata.google.internal.";
    }
  }
  curl_free(host);
  curl_url_cleanup(u);
  return metadata;
}

// The curl share of one client: its lock callbacks serialise access per kind of shared data.
struct HttpClient::Shared {
  Shared() {
    globalInit();
    share = curl_share_init();
    if (!share) return;
    curl_share_setopt(share, CURLSHOPT_LOCKFUNC, &Shared::lock);
    curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, &Shared::unlock);
    curl_share_setopt(share, CURLSHOPT_USERDATA, this);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
  ~Shared() {
    if (share) curl_share_cleanup(share);
  }
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;

  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<Shared*>(user)->mutexes[static_cast<size_t>(data) % kLocks].lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* user) {
    static_cast<Shared*>(user)->mutexes[static_cast<size_t>(data) % kLocks].unlock();
  }

  static constexpr size_t kLocks = CURL_LOCK_DATA_LAST;
  CURLSH* share = nullptr;
  std::array<std::mutex, kLocks> mutexes;
};

HttpClient::HttpClient() : shared_(std::make_shared<Shared>()) {}
HttpClient::~HttpClient() = default;
HttpClient::HttpClient(const HttpClient&) = default;
HttpClient& HttpClient::operator=(const HttpClient&) = default;

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (equalsIgnoreCase(key, name)) return value;
  }
  return {};
}

Result<HttpResponse> HttpClient::send(const HttpRequest& request) const {
  std::string where = request.method + " " + redactUrl(request.url);
  if (request.url.empty()) return fail(Code::kInvalidArgument, "HTTP request without a URL");
  if (request.method.empty() || hasLineBreak(request.method) ||
      request.method.find(' ') != std::string::npos) {
    return fail(Code::kInvalidArgument, "invalid HTTP method in " + where);
  }
  if (hasLineBreak(request.url))
    return fail(Code::kInvalidArgument, "line break in URL of " + where);

  // Everything the handle points to is declared before it, so it outlives the handle.
  Transfer transfer;
  transfer.maxBody = request.maxResponseBytes;
  char errorBuffer[CURL_ERROR_SIZE] = {};
  std::unique_ptr<curl_slist, ListDeleter> headers;
  bool haveContentType = false;
  bool haveExpect = false;
  for (const auto& [name, value] : request.headers) {
    // A line break would let a header value smuggle further headers (or a second request).
    if (name.empty() || hasLineBreak(name) || hasLineBreak(value) ||
        name.find(':') != std::string::npos) {
      return fail(Code::kInvalidArgument, "invalid header name or value in " + where);
    }
    haveContentType = haveContentType || equalsIgnoreCase(name, "content-type");
    haveExpect = haveExpect || equalsIgnoreCase(name, "expect");
    // curl drops "Name:" (no value); "Name;" is how an empty header is sent.
    if (!append(headers, value.empty() ? name + ";" : name + ": " + value)) {
      return fail(Code::kResourceExhausted, "out of memory building " + where);
    }
  }
  // curl would wait up to a second for "100 Continue" before sending larger bodies; the
  // servers we talk to answer directly.
  if (!haveExpect) append(headers, "Expect:");
  curl_blob caBlob = blobOf(request.caPem);
  curl_blob certBlob = blobOf(request.clientCertPem);
  curl_blob keyBlob = blobOf(request.clientKeyPem);

  std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
  if (!easy) return fail(Code::kInternal, "curl_easy_init failed for " + where);
  CURL* h = easy.get();

  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  // Instance metadata answers with credentials: never through an *_proxy from the environment.
  if (isMetadataServiceUrl(request.url)) curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // required with threads; timeouts still work
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errorBuffer);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &onBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &onHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &transfer);
  transfer.handle = h;
  if (request.onBody) {
    transfer.sink = &request.onBody;
  } else {
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
                     static_cast<curl_off_t>(request.maxResponseBytes));
  }
  if (request.cancelled) {
    transfer.cancelled = &request.cancelled;
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &onProgress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &transfer);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  }
  if (shared_->share) curl_easy_setopt(h, CURLOPT_SHARE, shared_->share);
  curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 32L);

  const std::string& method = request.method;
  if (method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (!request.body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    // POSTFIELDS sends the body with a Content-Length (0 for an empty body, which servers such
    // as Docker's want on a bare POST); CUSTOMREQUEST then names the real method.
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
    if (method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
    // Otherwise curl labels every body as a form.
    if (!haveContentType) append(headers, "Content-Type:");
  } else if (method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());

  if (!request.unixSocket.empty()) {
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, request.unixSocket.c_str());
  }
  if (!request.caFile.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, request.caFile.c_str());
  if (!request.caPem.empty()) curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &caBlob);
  if (!request.clientCertFile.empty())
    curl_easy_setopt(h, CURLOPT_SSLCERT, request.clientCertFile.c_str());
  if (!request.clientKeyFile.empty())
    curl_easy_setopt(h, CURLOPT_SSLKEY, request.clientKeyFile.c_str());
  if (!request.clientCertPem.empty()) {
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &certBlob);
  }
  if (!request.clientKeyPem.empty()) {
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &keyBlob);
  }
  if (request.insecureSkipVerify) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  curl_easy_setopt(h, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));

  CURLcode rc = curl_easy_perform(h);
  if (transfer.stoppedBySink || transfer.stoppedByCancel) {
    return fail(Code::kCancelled, fmt::format("{}: stopped by the caller", where));
  }
  if (transfer.bodyTooLarge || rc == CURLE_FILESIZE_EXCEEDED) {
    return fail(Code::kResourceExhausted,
                fmt::format("{}: response body exceeds {} bytes", where, request.maxResponseBytes));
  }
  if (transfer.headersTooLarge) {
    return fail(Code::kResourceExhausted, fmt::format("{}: response headers exceed {} bytes", where,
                                                      kMaxResponseHeaderBytes));
  }
  if (rc != CURLE_OK) {
    std::string detail = errorBuffer[0] != '\0' ? errorBuffer : curl_easy_strerror(rc);
    Code code = rc == CURLE_OPERATION_TIMEDOUT ? Code::kDeadlineExceeded : Code::kUnavailable;
    if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
      code = Code::kInvalidArgument;
    return fail(code, fmt::format("{}: {}", where, detail));
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &transfer.response.status);
  // libcurl takes a status line such as "HTTP/21.1 500" as status 1; callers map statuses to
  // errors and must only ever see real ones (RFC 9110 §15: 100-599).
  if (transfer.response.status < 100 || transfer.response.status > 599) {
    return fail(Code::kUnavailable, fmt::format("{}: malformed HTTP status line (status {})", where,
                                                transfer.response.status));
  }
  return std::move(transfer.response);
}

std::string urlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    bool unreserved = (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    }
  }
  return out;
}

Code codeForHttpStatus(long status, Code otherwise) {
  switch (status) {
    case 400:
      return Code::kInvalidArgument;
    case 401:
      return Code::kUnauthenticated;
    case 403:
      return Code::kPermissionDenied;
    case 404:
      return Code::kNotFound;
    case 409:
      return Code::kAlreadyExists;
    case 429:
      return Code::kResourceExhausted;
    default:
      return status >= 500 ? Code::kUnavailable : otherwise;
  }
}

}  // namespace pp::net
