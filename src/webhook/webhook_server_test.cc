// The webhook over real HTTPS on loopback: certificates issued by a throw-away CA, admission
// reviews posted with libcurl, and the serving certificate replaced on disk while the server
// runs (a half-written pair is ignored until the key arrives).
#include "webhook/webhook_server.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "base/encoding.h"
#include "base/files.h"
#include "net/http_client.h"
#include "net/tls.h"

namespace pp::webhook {
namespace {

using nlohmann::json;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/ppwh.XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { (void)files::removeAll(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct Issued {
  std::string caPem;
  net::CertifiedKey pair;
};

Issued issue() {
  auto ca = net::CertificateAuthority::create("peerpods-webhook-test", "test CA");
  EXPECT_TRUE(ca);
  auto pair = ca->issueServer("127.0.0.1");
  EXPECT_TRUE(pair);
  return {ca->certPem(), *pair};
}

std::string reviewBody(const std::string& runtimeClass) {
  json review{{"apiVersion", "admission.k8s.io/v1"},
              {"kind", "AdmissionReview"},
              {"request",
               {{"uid", "u-1"},
                {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
                {"operation", "CREATE"},
                {"namespace", "default"},
                {"object",
                 {{"apiVersion", "v1"},
                  {"kind", "Pod"},
                  {"metadata", {{"name", "p"}}},
                  {"spec",
                   {{"runtimeClassName", runtimeClass},
                    {"containers",
                     json::array({{{"name", "c"},
                                   {"resources",
                                    {{"requests", {{"cpu", "2"}, {"memory", "1Gi"}}}}}}})}}}}}}}};
  return review.dump();
}

class WebhookServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    first_ = issue();
    certFile_ = dir_.path() + "/tls.crt";
    keyFile_ = dir_.path() + "/tls.key";
    ASSERT_TRUE(files::writeAtomic(certFile_, first_.pair.certPem));
    ASSERT_TRUE(files::writeAtomic(keyFile_, first_.pair.keyPem, 0600));
    WebhookServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.certFile = certFile_;
    options.keyFile = keyFile_;
    auto server = WebhookServer::start(options);
    ASSERT_TRUE(server) << server.error().message;
    server_ = std::move(*server);
  }

  // A new client each time, so that no TLS session is resumed across certificate changes.
  Result<net::HttpResponse> send(const std::string& caPem, const std::string& method,
                                 const std::string& path, std::string body = "",
                                 std::string contentType = "application/json") {
    net::HttpClient client;
    net::HttpRequest req;
    req.method = method;
    req.url = server_->baseUrl() + path;
    req.caPem = caPem;
    req.body = std::move(body);
    req.timeout = std::chrono::seconds(20);
    if (!contentType.empty()) req.headers.emplace_back("Content-Type", contentType);
    return client.send(req);
  }

  TempDir dir_;
  Issued first_;
  std::string certFile_, keyFile_;
  std::unique_ptr<WebhookServer> server_;
};

TEST_F(WebhookServerTest, MutatesOverHttps) {
  auto r = send(first_.caPem, "POST", "/mutate-v1-pod", reviewBody("kata-remote"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("Content-Type"), "application/json");
  json review = json::parse(r->body);
  EXPECT_EQ(review["response"]["uid"], "u-1");
  EXPECT_EQ(review["response"]["allowed"], true);
  EXPECT_EQ(review["response"]["patchType"], "JSONPatch");
  json patch = json::parse(*encoding::base64Decode(review["response"]["patch"].get<std::string>()));
  json pod = json::parse(reviewBody("kata-remote"))["request"]["object"].patch(patch);
  EXPECT_EQ(pod["metadata"]["annotations"][std::string(kCpuAnnotation)], "2");
  EXPECT_EQ(pod["metadata"]["annotations"][std::string(kMemoryAnnotation)], "1024");

  auto other = send(first_.caPem, "POST", "/mutate-v1-pod", reviewBody("runc"));
  ASSERT_TRUE(other);
  EXPECT_FALSE(json::parse(other->body)["response"].contains("patch"));
  EXPECT_EQ(server_->stats().mutated.load(), 1u);
  EXPECT_EQ(server_->stats().unchanged.load(), 1u);
}

TEST_F(WebhookServerTest, HealthWrongPathsAndBadBodies) {
  auto health = send(first_.caPem, "GET", "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok");
  auto missing = send(first_.caPem, "POST", "/mutate-v1-deployment", "{}");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto get = send(first_.caPem, "GET", "/mutate-v1-pod");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 405);
  auto junk = send(first_.caPem, "POST", "/mutate-v1-pod", "not json at all");
  ASSERT_TRUE(junk);
  EXPECT_EQ(junk->status, 200);
  EXPECT_EQ(json::parse(junk->body)["response"]["allowed"], false);
  // Beyond the 7 MiB limit the HTTP layer refuses the body itself.
  auto huge =
      send(first_.caPem, "POST", "/mutate-v1-pod", std::string(kMaxReviewBytes + 1024, 'x'));
  if (huge) {
    EXPECT_EQ(huge->status, 413);  // (or the connection is closed before the answer)
  }
  auto after = send(first_.caPem, "GET", "/readyz");
  ASSERT_TRUE(after) << "the server must keep serving";
  EXPECT_EQ(after->status, 200);
  EXPECT_GE(server_->stats().rejected.load(), 1u);
  EXPECT_NE(server_->metricsText().find("peerpods_webhook_admissions_total{result=\"rejected\"}"),
            std::string::npos);
}

TEST_F(WebhookServerTest, CertificateIsReloadedWhenTheFilesChange) {
  ASSERT_TRUE(send(first_.caPem, "GET", "/healthz"));
  Issued second = issue();
  // Both files replaced the way a Secret volume update replaces them (new inodes).
  ASSERT_TRUE(files::writeAtomic(keyFile_, second.pair.keyPem, 0600));
  ASSERT_TRUE(files::writeAtomic(certFile_, second.pair.certPem));
  auto withSecond = send(second.caPem, "GET", "/healthz");
  ASSERT_TRUE(withSecond) << withSecond.error().message;
  EXPECT_EQ(withSecond->status, 200);
  EXPECT_FALSE(send(first_.caPem, "GET", "/healthz")) << "the old certificate must be gone";
  EXPECT_EQ(server_->certificates().reloads(), 1u);
  EXPECT_EQ(server_->certificates().certPem(), second.pair.certPem);

  // Half an update: the third certificate without its key. The second pair keeps serving.
  Issued third = issue();
  ASSERT_TRUE(files::writeAtomic(certFile_, third.pair.certPem));
  auto during = send(second.caPem, "GET", "/healthz");
  ASSERT_TRUE(during) << during.error().message;
  EXPECT_FALSE(send(third.caPem, "GET", "/healthz"));
  EXPECT_EQ(server_->certificates().failedReloads(), 1u);
  ASSERT_TRUE(files::writeAtomic(keyFile_, third.pair.keyPem, 0600));
  auto done = send(third.caPem, "POST", "/mutate-v1-pod", reviewBody("kata-remote"));
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(json::parse(done->body)["response"]["allowed"], true);
  EXPECT_EQ(server_->certificates().reloads(), 2u);
}

TEST(WebhookServerStartTest, MissingOrMismatchedCertificatesAreClearErrors) {
  TempDir dir;
  WebhookServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.certFile = dir.path() + "/tls.crt";
  options.keyFile = dir.path() + "/tls.key";
  auto missing = WebhookServer::start(options);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("tls.crt"), std::string::npos) << missing.error().message;
  Issued a = issue(), b = issue();
  ASSERT_TRUE(files::writeAtomic(options.certFile, a.pair.certPem));
  ASSERT_TRUE(files::writeAtomic(options.keyFile, b.pair.keyPem));
  auto mismatched = WebhookServer::start(options);
  ASSERT_FALSE(mismatched);
  EXPECT_NE(mismatched.error().message.find("serving certificate"), std::string::npos)
      << mismatched.error().message;
}

TEST(WebhookServerStartTest, TlsProfile) {
  auto p = parseTlsProfile("VersionTLS13", "");
  ASSERT_TRUE(p);
  EXPECT_NE(p->minVersion, 0);
  EXPECT_FALSE(parseTlsProfile("VersionTLS11", ""));
  EXPECT_FALSE(parseTlsProfile("VersionTLS13", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"));
  // net::parseTlsProfile's rules and words, with the variables named.
  auto unknown = parseTlsProfile("", "TLS_NOT_A_SUITE");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("TLS_MIN_VERSION/TLS_CIPHER_SUITES: unknown TLS cipher "
                                         "suite \"TLS_NOT_A_SUITE\"; valid names:"),
            std::string::npos)
      << unknown.error().message;
  // A name Go accepts that this OpenSSL does not have is refused here, not at the first
  // handshake.
  auto rc4 = parseTlsProfile("", "TLS_RSA_WITH_RC4_128_SHA");
  ASSERT_FALSE(rc4);
  EXPECT_NE(rc4.error().message.find("TLS_CIPHER_SUITES: none of the TLS cipher suites"),
            std::string::npos)
      << rc4.error().message;
  auto ok = parseTlsProfile(
      "VersionTLS12",
      "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->cipherList, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384");
}

TEST(WebhookServerStartTest, ListenAddresses) {
  auto a = parseListenAddress(":9443");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "");
  EXPECT_EQ(a->port, 9443);
  auto b = parseListenAddress("[::1]:8081");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_TRUE(parseListenAddress("0")->disabled);
  EXPECT_FALSE(parseListenAddress("8080"));
  EXPECT_FALSE(parseListenAddress(":99999"));
  EXPECT_FALSE(parseListenAddress("host:"));
}

}  // namespace
}  // namespace pp::webhook
