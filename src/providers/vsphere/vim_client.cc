// vCenter's vim25 SOAP API (see vim_client.h).
#include "providers/vsphere/vim_client.h"

#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "base/log.h"
#include "base/scope_exit.h"

namespace pp::providers::vsphere {
namespace {

using namespace std::chrono_literals;
constexpr const char* kLog = "vsphere";
constexpr char kSessionCookie[] = "vmware_soap_session";
// RetrievePropertiesEx pages: objects per page, pages at most.
constexpr int kPageObjects = 100;
constexpr int kMaxPages = 1000;
// vim25 version the requests are written for: 7.0 is understood by vCenter 7 and 8.
constexpr char kSoapAction[] = "\"urn:vim25/7.0\"";

std::string envelope(std::string_view method, const MoRef& self, std::string_view arguments) {
  std::string out =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
      "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
      "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" "
      "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body><";
  out += method;
  out += " xmlns=\"urn:vim25\">";
  out += moRefXml("_this", self);
  out += arguments;
  out += "</";
  out += method;
  out += "></soapenv:Body></soapenv:Envelope>";
  return out;
}

Code codeForFault(std::string_view type) {
  if (type == "NotAuthenticated" || type == "InvalidLogin") return Code::kUnauthenticated;
  if (type == "NoPermission") return Code::kPermissionDenied;
  if (type == "ManagedObjectNotFound" || type == "NotFound") return Code::kNotFound;
  if (type == "DuplicateName" || type == "AlreadyExists") return Code::kAlreadyExists;
  if (type == "InvalidArgument" || type == "InvalidRequest" || type == "InvalidType" ||
      type == "InvalidName")
    return Code::kInvalidArgument;
  if (type == "InvalidState" || type == "InvalidPowerState" || type == "NotSupported" ||
      type == "InvalidDatastore" || type == "InvalidVmConfig")
    return Code::kFailedPrecondition;
  if (type == "InsufficientResourcesFault" || type == "OutOfBounds")
    return Code::kResourceExhausted;
  if (type == "RequestCanceled") return Code::kCancelled;
  return Code::kInternal;
}

// "NotAuthenticatedFault" / xsi:type="NotAuthenticated" -> "NotAuthenticated".
std::string faultName(const SoapNode& n) {
  std::string t = n.attribute("xsi:type");
  if (!t.empty()) {
    auto colon = t.find(':');
    return colon == std::string::npos ? t : t.substr(colon + 1);
  }
  t = n.name;
  if (t.size() > 5 && t.ends_with("Fault") && t != "InsufficientResourcesFault")
    t.resize(t.size() - 5);
  return t;
}

Error faultError(std::string_view method, const std::string& type, std::string text) {
  if (text.size() > 512) text.resize(512);
  return Error{codeForFault(type), "vsphere: " + std::string(method) + ": " +
                                       (type.empty() ? "fault" : type) +
                                       (text.empty() ? "" : ": " + text)};
}

// The session cookie's "name=value" from a Set-Cookie header; "" when not there.
std::string sessionCookieOf(const net::HttpResponse& r) {
  for (const auto& [k, v] : r.headers) {
    if (k.size() != 10 || !std::equal(k.begin(), k.end(), "set-cookie",
                                      [](char a, char b) { return std::tolower(a) == b; }))
      continue;
    std::string_view s = v;
    if (!s.starts_with(kSessionCookie)) continue;
    auto end = s.find(';');
    return std::string(s.substr(0, end));
  }
  return {};
}

struct ParsedUrl {
  std::string host;
  int port = 443;
};

Result<ParsedUrl> parseHttpsUrl(const std::string& url) {
  std::string_view s = url;
  if (!s.starts_with("https://"))
    return fail(Code::kInvalidArgument, "vsphere: the vCenter URL must be https://, not " + url);
  s.remove_prefix(8);
  s = s.substr(0, s.find('/'));
  ParsedUrl out;
  if (s.starts_with('[')) {
    auto close = s.find(']');
    if (close == std::string_view::npos)
      return fail(Code::kInvalidArgument, "vsphere: bad IPv6 host in " + url);
    out.host = std::string(s.substr(1, close - 1));
    s.remove_prefix(close + 1);
    if (s.starts_with(':')) s.remove_prefix(1), out.port = std::atoi(std::string(s).c_str());
  } else {
    auto colon = s.rfind(':');
    out.host = std::string(s.substr(0, colon));
    if (colon != std::string_view::npos)
      out.port = std::atoi(std::string(s.substr(colon + 1)).c_str());
  }
  if (out.host.empty() || out.port <= 0 || out.port > 65535)
    return fail(Code::kInvalidArgument, "vsphere: bad host or port in " + url);
  return out;
}

}  // namespace

std::string moRefXml(std::string_view element, const MoRef& ref) {
  std::string out = "<";
  out += element;
  out += " type=\"" + xmlEscape(ref.type) + "\">" + xmlEscape(ref.value) + "</";
  out += element;
  out += ">";
  return out;
}

MoRef moRefOf(const SoapNode* node) {
  if (node == nullptr) return {};
  return MoRef{node->attribute("type"), node->text};
}

std::string faultTypeOf(const Error& error) {
  // "vsphere: Method: Type: text"
  std::string_view m = error.message;
  if (!m.starts_with("vsphere: ")) return {};
  m.remove_prefix(9);
  auto a = m.find(": ");
  if (a == std::string_view::npos) return {};
  m.remove_prefix(a + 2);
  auto b = m.find(':');
  std::string_view t = m.substr(0, b);
  if (t.empty() || !std::all_of(t.begin(), t.end(), [](char c) { return std::isalnum(c); }))
    return {};
  return std::string(t);
}

std::string thumbprintOf(std::string_view der) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(der.data(), der.size(), md, &len, EVP_sha1(), nullptr);
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    if (i) out.push_back(':');
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 15]);
  }
  return out;
}

Result<std::string> normalizeThumbprint(std::string_view text) {
  std::string digits;
  for (char c : text) {
    if (c == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c)))
      return fail(Code::kInvalidArgument,
                  "vsphere: -thumbprint (GOVC_THUMBPRINT) must be the certificate's SHA-1 in "
                  "hex, as AA:BB:...; it holds a character that is not a hex digit");
    digits.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  if (digits.size() != 40)
    return fail(Code::kInvalidArgument,
                "vsphere: -thumbprint (GOVC_THUMBPRINT) must be a SHA-1 (20 bytes, 40 hex "
                "digits), it has " +
                    std::to_string(digits.size()) + " digits");
  std::string out;
  for (size_t i = 0; i < 40; i += 2) {
    if (i) out.push_back(':');
    out.append(digits, i, 2);
  }
  return out;
}

Result<ServerCertificate> fetchServerCertificate(const std::string& host, int port,
                                                 std::chrono::milliseconds timeout) {
  std::string where = "vsphere: " + host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0)
    return fail(Code::kUnavailable, where + ": " + ::gai_strerror(rc));
  ScopeExit freeRes([&] { ::freeaddrinfo(res); });
  int fd = -1;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  for (addrinfo* a = res; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // also bounds connect()
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  if (fd < 0) return fail(Code::kUnavailable, where + ": cannot connect");
  ScopeExit closeFd([&] { ::close(fd); });
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  if (!ctx) return fail(Code::kInternal, where + ": no TLS context");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);  // we compare the thumbprint
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  if (!ssl) return fail(Code::kInternal, where + ": no TLS session");
  SSL_set_fd(ssl.get(), fd);
  SSL_set_tlsext_host_name(ssl.get(), host.c_str());
  if (SSL_connect(ssl.get()) != 1)
    return fail(Code::kUnavailable, where + ": TLS handshake failed");
  std::unique_ptr<X509, decltype(&X509_free)> cert(SSL_get1_peer_certificate(ssl.get()), X509_free);
  SSL_shutdown(ssl.get());
  if (!cert) return fail(Code::kUnavailable, where + ": the server sent no certificate");
  unsigned char* der = nullptr;
  int derLen = i2d_X509(cert.get(), &der);
  if (derLen <= 0) return fail(Code::kInternal, where + ": cannot encode the certificate");
  std::string derText(reinterpret_cast<char*>(der), static_cast<size_t>(derLen));
  OPENSSL_free(der);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_X509(bio.get(), cert.get());
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return ServerCertificate{std::string(data, static_cast<size_t>(n)), thumbprintOf(derText)};
}

VimClient::VimClient(VimConfig config, net::HttpClient http, Retrier::Sleep sleep)
    : config_(std::move(config)),
      http_(std::move(http)),
      retrier_(RetryPolicy{.maxAttempts = 4, .budget = 30s}, std::move(sleep)) {}

Result<std::unique_ptr<VimClient>> VimClient::create(VimConfig config, net::HttpClient http,
                                                     Retrier::Sleep sleep) {
  if (config.userName.empty())
    return fail(Code::kInvalidArgument, "vsphere: -user-name (GOVC_USERNAME) is not set");
  if (config.password.empty())
    return fail(Code::kInvalidArgument, "vsphere: -password (GOVC_PASSWORD) is not set");
  auto url = parseHttpsUrl(config.url);
  if (!url) return fail(url.error());
  std::unique_ptr<VimClient> c(new VimClient(std::move(config), std::move(http), std::move(sleep)));
  if (!c->config_.thumbprint.empty()) {
    auto want = normalizeThumbprint(c->config_.thumbprint);
    if (!want) return fail(want.error());
    auto got = fetchServerCertificate(url->host, url->port, c->config_.callTimeout);
    if (!got) return fail(got.error());
    if (got->thumbprint != *want)
      return fail(Code::kPermissionDenied,
                  "vsphere: the certificate of " + url->host + " has the SHA-1 thumbprint " +
                      got->thumbprint +
                      ", not the one given with -thumbprint (GOVC_THUMBPRINT): refusing to "
                      "connect");
    // Every later connection must present this very certificate (curl trusts it as the only
    // anchor, partial chains allowed).
    c->caPem_ = got->pem;
  }
  if (auto st = c->connect(); !st) return fail(st.error());
  if (c->config_.keepalive.count() > 0)
    c->keepalive_ = std::thread([p = c.get()] { p->keepaliveLoop(); });
  return c;
}

VimClient::~VimClient() {
  {
    std::lock_guard lock(stopMu_);
    stopping_ = true;
  }
  stopCv_.notify_all();
  if (keepalive_.joinable()) keepalive_.join();
}

Result<SoapNode> VimClient::postOnce(std::string_view method, const std::string& body,
                                     const std::string& cookie) {
  net::HttpRequest req;
  req.method = "POST";
  req.url = config_.url;
  req.body = body;
  req.timeout = config_.callTimeout;
  req.headers = {{"Content-Type", "text/xml; charset=utf-8"}, {"SOAPAction", kSoapAction}};
  if (!cookie.empty()) req.headers.emplace_back("Cookie", cookie);
  if (!caPem_.empty()) req.caPem = caPem_;
  if (config_.insecure && caPem_.empty()) req.insecureSkipVerify = true;
  auto resp = http_.send(req);
  if (!resp) {
    Error e = resp.error();
    if (e.message.find("certificate") != std::string::npos ||
        e.message.find("SSL") != std::string::npos) {
      e.message +=
          " (give the vCenter certificate's SHA-1 with -thumbprint/GOVC_THUMBPRINT, or "
          "turn verification off with -vcenter-insecure/GOVC_INSECURE)";
    }
    e.message = "vsphere: " + std::string(method) + ": " + e.message;
    return fail(std::move(e));
  }
  auto doc = parseSoapXml(resp->body);
  if (!doc) {
    if (!resp->ok())
      return fail(net::codeForHttpStatus(resp->status, Code::kUnknown),
                  "vsphere: " + std::string(method) + ": HTTP " + std::to_string(resp->status));
    return fail(Code::kInternal, "vsphere: " + std::string(method) + ": " + doc.error().message);
  }
  const SoapNode* bodyNode = doc->child("Body");
  if (doc->name != "Envelope" || bodyNode == nullptr || bodyNode->children.size() != 1)
    return fail(Code::kInternal,
                "vsphere: " + std::string(method) + ": the answer is not a SOAP envelope");
  const SoapNode& answer = bodyNode->children.front();
  if (answer.name == "Fault") {
    std::string type;
    if (const SoapNode* d = answer.child("detail"); d && !d->children.empty())
      type = faultName(d->children.front());
    return fail(faultError(method, type, answer.childText("faultstring")));
  }
  if (!resp->ok())
    return fail(net::codeForHttpStatus(resp->status, Code::kUnknown),
                "vsphere: " + std::string(method) + ": HTTP " + std::to_string(resp->status));
  if (answer.name != std::string(method) + "Response")
    return fail(Code::kInternal,
                "vsphere: " + std::string(method) + ": unexpected answer " + answer.name);
  if (method == "Login") {
    // The cookie travels back to the caller in the node (stripped before anyone sees it).
    SoapNode copy = answer;
    copy.attributes.emplace_back("session-cookie", sessionCookieOf(*resp));
    return copy;
  }
  return answer;
}

Result<SoapNode> VimClient::post(std::string_view method, const std::string& body, bool mutating,
                                 const std::string& cookie) {
  if (mutating) return postOnce(method, body, cookie);
  return retrier_.run([&] { return postOnce(method, body, cookie); },
                      [](const Error& e) {
                        // Transport errors and 5xx without a fault; faults are answers.
                        RetryVerdict v;
                        v.retry = faultTypeOf(e).empty() && (e.code == Code::kUnavailable ||
                                                             e.code == Code::kDeadlineExceeded);
                        return v;
                      });
}

Status VimClient::connect() {
  auto r = post("RetrieveServiceContent",
                envelope("RetrieveServiceContent", MoRef{"ServiceInstance", "ServiceInstance"}, ""),
                false, "");
  if (!r) return fail(r.error());
  const SoapNode* sc = r->child("returnval");
  if (sc == nullptr) return fail(Code::kInternal, "vsphere: RetrieveServiceContent: no content");
  rootFolder_ = moRefOf(sc->child("rootFolder"));
  propertyCollector_ = moRefOf(sc->child("propertyCollector"));
  searchIndex_ = moRefOf(sc->child("searchIndex"));
  viewManager_ = moRefOf(sc->child("viewManager"));
  sessionManager_ = moRefOf(sc->child("sessionManager"));
  if (rootFolder_.empty() || propertyCollector_.empty() || searchIndex_.empty() ||
      viewManager_.empty() || sessionManager_.empty())
    return fail(Code::kInternal, "vsphere: RetrieveServiceContent: references missing");
  return {};
}

Status VimClient::login() {
  std::string args = "<userName>" + xmlEscape(config_.userName) + "</userName><password>" +
                     xmlEscape(config_.password) + "</password>";
  auto r = post("Login", envelope("Login", sessionManager_, args), false, "");
  if (!r) return fail(r.error());
  std::string cookie = r->attribute("session-cookie");
  if (cookie.empty())
    return fail(Code::kInternal, "vsphere: Login: the answer set no vmware_soap_session cookie");
  {
    std::lock_guard lock(sessionMu_);
    cookie_ = std::move(cookie);
    ++generation_;
  }
  ++logins_;
  log::info(kLog, "logged in to {}", config_.url);
  return {};
}

Result<std::string> VimClient::session(uint64_t* generation) {
  {
    std::lock_guard lock(sessionMu_);
    if (!cookie_.empty()) {
      *generation = generation_;
      return cookie_;
    }
  }
  if (auto st = relogin(0); !st) return fail(st.error());
  std::lock_guard lock(sessionMu_);
  *generation = generation_;
  return cookie_;
}

// Logs in again unless another thread already did since `failedGeneration` failed.
Status VimClient::relogin(uint64_t failedGeneration) {
  {
    std::lock_guard lock(sessionMu_);
    if (!cookie_.empty() && generation_ != failedGeneration) return {};
    cookie_.clear();
  }
  // One login at a time: login() takes the lock; a thread arriving meanwhile finds the new
  // generation above.
  std::lock_guard serialize(loginMu_);
  {
    std::lock_guard lock(sessionMu_);
    if (!cookie_.empty()) return {};
  }
  return login();
}

Result<SoapNode> VimClient::call(std::string_view method, const MoRef& self,
                                 std::string_view arguments, bool mutating) {
  std::string body = envelope(method, self, arguments);
  for (int attempt = 0;; ++attempt) {
    uint64_t generation = 0;
    auto cookie = session(&generation);
    if (!cookie) return fail(cookie.error());
    auto r = post(method, body, mutating, *cookie);
    if (!r && attempt == 0 && faultTypeOf(r.error()) == "NotAuthenticated") {
      // The session expired or was terminated; nothing was done. Log in again, once.
      log::info(kLog, "the vCenter session is gone ({}); logging in again", method);
      if (auto st = relogin(generation); !st) return fail(st.error());
      continue;
    }
    return r;
  }
}

Status VimClient::logout() {
  std::string cookie;
  {
    std::lock_guard lock(sessionMu_);
    cookie.swap(cookie_);
  }
  if (cookie.empty()) return {};
  auto r = post("Logout", envelope("Logout", sessionManager_, ""), true, cookie);
  if (!r && faultTypeOf(r.error()) != "NotAuthenticated") return fail(r.error());
  return {};
}

void VimClient::keepaliveLoop() {
  std::unique_lock lock(stopMu_);
  while (!stopCv_.wait_for(lock, config_.keepalive, [this] { return stopping_; })) {
    lock.unlock();
    bool loggedIn;
    {
      std::lock_guard s(sessionMu_);
      loggedIn = !cookie_.empty();
    }
    if (loggedIn) {
      auto r = call("CurrentTime", MoRef{"ServiceInstance", "ServiceInstance"}, "", false);
      if (!r) log::warn(kLog, "keepalive: {}", r.error().message);
    }
    lock.lock();
  }
}

Result<std::optional<MoRef>> VimClient::findByInventoryPath(const std::string& path) {
  auto r = call("FindByInventoryPath", searchIndex_,
                "<inventoryPath>" + xmlEscape(path) + "</inventoryPath>", false);
  if (!r) return fail(r.error());
  MoRef ref = moRefOf(r->child("returnval"));
  if (ref.empty()) return std::optional<MoRef>();
  return std::optional<MoRef>(ref);
}

Result<std::optional<MoRef>> VimClient::findVmByUuid(const MoRef& datacenter,
                                                     const std::string& uuid) {
  std::string args = datacenter.empty() ? "" : moRefXml("datacenter", datacenter);
  args += "<uuid>" + xmlEscape(uuid) + "</uuid><vmSearch>true</vmSearch>";
  args += "<instanceUuid>false</instanceUuid>";
  auto r = call("FindByUuid", searchIndex_, args, false);
  if (!r) return fail(r.error());
  MoRef ref = moRefOf(r->child("returnval"));
  if (ref.empty()) return std::optional<MoRef>();
  return std::optional<MoRef>(ref);
}

Result<std::optional<MoRef>> VimClient::findChild(const MoRef& parent, const std::string& name) {
  auto r = call("FindChild", searchIndex_,
                moRefXml("entity", parent) + "<name>" + xmlEscape(name) + "</name>", false);
  if (!r) return fail(r.error());
  MoRef ref = moRefOf(r->child("returnval"));
  if (ref.empty()) return std::optional<MoRef>();
  return std::optional<MoRef>(ref);
}

namespace {

// ObjectContent elements called `element` of a node (RetrieveProperties: returnval; a
// RetrieveResult: objects), appended to `out`.
void appendObjects(const SoapNode& answer, std::string_view element,
                   std::vector<ObjectProps>& out) {
  for (const SoapNode* oc : answer.all(element)) {
    ObjectProps o;
    o.obj = moRefOf(oc->child("obj"));
    for (const SoapNode* p : oc->all("propSet")) {
      const SoapNode* val = p->child("val");
      if (val) o.props[p->childText("name")] = *val;
    }
    out.push_back(std::move(o));
  }
}

std::vector<ObjectProps> objectsOf(const SoapNode& answer) {
  std::vector<ObjectProps> out;
  appendObjects(answer, "returnval", out);
  return out;
}

std::string propSpec(const std::string& type, const std::vector<std::string>& paths) {
  std::string out = "<propSet><type>" + xmlEscape(type) + "</type>";
  for (const auto& p : paths) out += "<pathSet>" + xmlEscape(p) + "</pathSet>";
  return out + "</propSet>";
}

}  // namespace

Result<std::vector<ObjectProps>> VimClient::retrieve(const std::vector<MoRef>& objects,
                                                     const std::vector<std::string>& paths) {
  if (objects.empty()) return std::vector<ObjectProps>();
  std::string spec = "<specSet>";
  // One propSet per type present.
  std::vector<std::string> types;
  for (const auto& o : objects)
    if (std::find(types.begin(), types.end(), o.type) == types.end()) types.push_back(o.type);
  for (const auto& t : types) spec += propSpec(t, paths);
  for (const auto& o : objects) spec += "<objectSet>" + moRefXml("obj", o) + "</objectSet>";
  spec += "</specSet>";
  auto r = call("RetrieveProperties", propertyCollector_, spec, false);
  if (!r) return fail(r.error());
  return objectsOf(*r);
}

Result<ObjectProps> VimClient::retrieveOne(const MoRef& object,
                                           const std::vector<std::string>& paths) {
  auto r = retrieve({object}, paths);
  if (!r) return fail(r.error());
  if (r->empty())
    return fail(Code::kNotFound, "vsphere: " + object.type + " " + object.value + " is gone");
  return std::move(r->front());
}

Result<std::vector<ObjectProps>> VimClient::retrieveBelow(const MoRef& container,
                                                          const std::string& type,
                                                          const std::vector<std::string>& paths) {
  auto view = call("CreateContainerView", viewManager_,
                   moRefXml("container", container) + "<type>" + xmlEscape(type) +
                       "</type><recursive>true</recursive>",
                   false);
  if (!view) return fail(view.error());
  MoRef viewRef = moRefOf(view->child("returnval"));
  if (viewRef.empty()) return fail(Code::kInternal, "vsphere: CreateContainerView: no view");
  ScopeExit destroy([&] { (void)call("DestroyView", viewRef, "", false); });
  std::string spec = "<specSet>" + propSpec(type, paths) + "<objectSet>" +
                     moRefXml("obj", viewRef) +
                     "<skip>true</skip><selectSet xsi:type=\"TraversalSpec\"><name>view</name>"
                     "<type>ContainerView</type><path>view</path><skip>false</skip>"
                     "</selectSet></objectSet></specSet>";
  // In pages: a VM's extraConfig carries its user data, so all of a large folder at once could
  // exceed the answer size limit.
  std::vector<ObjectProps> out;
  auto r = call(
      "RetrievePropertiesEx", propertyCollector_,
      spec + "<options><maxObjects>" + std::to_string(kPageObjects) + "</maxObjects></options>",
      false);
  for (int page = 0;; ++page) {
    if (!r) return fail(r.error());
    const SoapNode* result = r->child("returnval");
    if (result == nullptr) return out;  // nothing matched
    appendObjects(*result, "objects", out);
    std::string token = result->childText("token");
    if (token.empty()) return out;
    if (page >= kMaxPages)
      return fail(Code::kResourceExhausted, "vsphere: more than " +
                                                std::to_string(kPageObjects * kMaxPages) + " " +
                                                type + " objects below " + container.value);
    r = call("ContinueRetrievePropertiesEx", propertyCollector_,
             "<token>" + xmlEscape(token) + "</token>", false);
  }
}

Result<SoapNode> VimClient::waitForTask(const MoRef& task, std::chrono::milliseconds timeout,
                                        std::string_view what) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = 100ms;
  for (;;) {
    auto info = retrieveOne(task, {"info"});
    if (!info) return fail(info.error());
    const SoapNode* ti = info->prop("info");
    if (ti == nullptr) return fail(Code::kInternal, "vsphere: task " + task.value + ": no info");
    std::string state = ti->childText("state");
    if (state == "success") return *ti;
    if (state == "error") {
      const SoapNode* err = ti->child("error");
      std::string type, text;
      if (err) {
        if (const SoapNode* f = err->child("fault")) type = faultName(*f);
        text = err->childText("localizedMessage");
      }
      return fail(faultError(what, type, text));
    }
    if (std::chrono::steady_clock::now() + pause > deadline)
      return fail(Code::kDeadlineExceeded, "vsphere: " + std::string(what) + ": task " +
                                               task.value + " still " + state + " after " +
                                               std::to_string(timeout.count() / 1000) + " s");
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::milliseconds>(pause * 2, 2s);
  }
}

}  // namespace pp::providers::vsphere
