// The fault-injecting proxy (see fault_proxy.h).
#include "providers/vsphere/testing/fault_proxy.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "net/tls.h"
#include "providers/vsphere/vim_client.h"

namespace pp::providers::vsphere::testing {
namespace {

// The SOAP method: the first element inside <soapenv:Body>.
std::string methodOf(const std::string& body) {
  auto b = body.find("Body>");
  if (b == std::string::npos) return {};
  auto open = body.find('<', b);
  auto end = body.find_first_of(" >", open);
  if (open == std::string::npos || end == std::string::npos) return {};
  return body.substr(open + 1, end - open - 1);
}

std::string derOf(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) return {};
  unsigned char* der = nullptr;
  int n = i2d_X509(cert.get(), &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

}  // namespace

Result<std::unique_ptr<FaultProxy>> FaultProxy::start(std::string upstream) {
  std::unique_ptr<FaultProxy> p(new FaultProxy());
  p->upstream_ = std::move(upstream);
  auto ca = net::CertificateAuthority::create("vcsim-proxy", "proxy CA");
  if (!ca) return fail(ca.error());
  auto leaf = ca->issueServer("127.0.0.1");
  if (!leaf) return fail(leaf.error());
  p->thumbprint_ = thumbprintOf(derOf(leaf->certPem));
  net::TlsServerConfig tls;
  tls.certPem = leaf->certPem;
  tls.keyPem = leaf->keyPem;
  auto ctx = net::makeServerContext(tls);
  if (!ctx) return fail(ctx.error());
  net::HttpServerOptions o;
  o.tls = *ctx;
  o.threads = 4;
  o.name = "vcsim-proxy";
  auto server = net::HttpServer::start(
      o, [raw = p.get()](const net::ServerRequest& r) { return raw->handle(r); });
  if (!server) return fail(server.error());
  p->server_ = std::move(*server);
  return p;
}

FaultProxy::~FaultProxy() {
  if (server_) server_->stop();
}

std::string FaultProxy::url() const {
  return "https://127.0.0.1:" + std::to_string(server_->port()) + "/sdk";
}

net::ServerResponse FaultProxy::handle(const net::ServerRequest& request) {
  std::string method = methodOf(request.body);
  auto failure = failures_.take(method + " " + request.body);
  if (failure && failure->status == 500) {
    net::ServerResponse r;
    r.status = 500;
    r.headers = {{"Content-Type", "text/xml; charset=utf-8"}};
    r.body =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope "
        "xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
        "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body><soapenv:Fault>"
        "<faultcode>ServerFaultCode</faultcode><faultstring>" +
        failure->message + "</faultstring><detail><" + failure->code +
        "Fault xmlns=\"urn:vim25\" xsi:type=\"" + failure->code + "\"></" + failure->code +
        "Fault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>";
    return r;
  }
  net::HttpRequest fwd;
  fwd.method = "POST";
  fwd.url = upstream_;
  fwd.body = request.body;
  fwd.insecureSkipVerify = true;  // the simulator on loopback, in a test
  for (const char* h : {"Content-Type", "SOAPAction", "Cookie"})
    if (auto v = request.header(h); !v.empty()) fwd.headers.emplace_back(h, v);
  auto resp = http_.send(fwd);
  net::ServerResponse r;
  if (!resp || failure) {
    r.status = 503;
    r.body = "lost";
    return r;
  }
  r.status = static_cast<int>(resp->status);
  r.body = resp->body;
  for (const auto& [k, v] : resp->headers)
    if (net::equalsIgnoreCase(k, "Set-Cookie") || net::equalsIgnoreCase(k, "Content-Type"))
      r.headers.emplace_back(k, v);
  return r;
}

}  // namespace pp::providers::vsphere::testing
