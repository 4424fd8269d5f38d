// The HTTP server with a TLS context from makeServerContext, and the HTTP client with
// certificates from the CA: the TLS variants of both.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "net/http_client.h"
#include "net/http_server.h"
#include "net/raw_socket_test_util.h"
#include "net/tls.h"

namespace pp::net {
namespace {

class Https : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = CertificateAuthority::create(kCaOrganization, "ca");
    ASSERT_TRUE(ca);
    ca_ = std::make_unique<CertificateAuthority>(*ca);
    // curl checks the URL's host, 127.0.0.1, against the certificate.
    auto server = ca_->issueServer("127.0.0.1");
    auto client = ca_->issueClient(kClientOrganization, "tester");
    ASSERT_TRUE(server && client);
    serverCert_ = *server;
    clientCert_ = *client;
  }

  std::unique_ptr<HttpServer> start(bool requireClientCert, HttpServerOptions options = {}) {
    auto tls = makeServerContext({.certPem = serverCert_.certPem,
                                  .keyPem = serverCert_.keyPem,
                                  .clientCaPem = requireClientCert ? ca_->certPem() : ""});
    EXPECT_TRUE(tls) << tls.error().toString();
    if (!tls) return nullptr;
    options.tls = *tls;
    auto server = HttpServer::start(options, [](const ServerRequest& r) {
      return ServerResponse{200, {}, "secure " + r.method + " " + r.body};
    });
    EXPECT_TRUE(server) << server.error().toString();
    return server ? std::move(*server) : nullptr;
  }

  std::unique_ptr<CertificateAuthority> ca_;
  CertifiedKey serverCert_;
  CertifiedKey clientCert_;
};

TEST_F(Https, ClientWithCertificateTalksToServerRequiringOne) {
  auto server = start(true);
  ASSERT_TRUE(server);
  EXPECT_TRUE(server->baseUrl().starts_with("https://127.0.0.1:"));
  HttpClient client;
  auto r = client.send({.method = "POST",
                        .url = server->baseUrl() + "/x",
                        .body = "hi",
                        .caPem = ca_->certPem(),
                        .clientCertPem = clientCert_.certPem,
                        .clientKeyPem = clientCert_.keyPem});
  ASSERT_TRUE(r) << r.error().toString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "secure POST hi");

  // Keep-alive works over TLS as well.
  for (int i = 0; i < 3; ++i) {
    auto again = client.send({.url = server->baseUrl() + "/x",
                              .caPem = ca_->certPem(),
                              .clientCertPem = clientCert_.certPem,
                              .clientKeyPem = clientCert_.keyPem});
    ASSERT_TRUE(again) << again.error().toString();
  }
  EXPECT_EQ(server->connectionsAccepted(), 1u);
}

TEST_F(Https, CertificatesFromFiles) {
  auto server = start(true);
  ASSERT_TRUE(server);
  std::string dir = std::filesystem::temp_directory_path() / "pp-https-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  std::ofstream(dir + "/ca.crt") << ca_->certPem();
  std::ofstream(dir + "/client.crt") << clientCert_.certPem;
  std::ofstream(dir + "/client.key") << clientCert_.keyPem;
  auto r = HttpClient().send({.url = server->baseUrl() + "/",
                              .caFile = dir + "/ca.crt",
                              .clientCertFile = dir + "/client.crt",
                              .clientKeyFile = dir + "/client.key"});
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(r) << r.error().toString();
  EXPECT_EQ(r->body, "secure GET ");
}

TEST_F(Https, ServerRefusesClientsWithoutCertificate) {
  auto server = start(true);
  ASSERT_TRUE(server);
  auto r = HttpClient().send({.url = server->baseUrl() + "/", .caPem = ca_->certPem()});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kUnavailable) << r.error().toString();
}

TEST_F(Https, ClientRefusesServersItCannotVerify) {
  auto server = start(false);
  ASSERT_TRUE(server);
  auto other = CertificateAuthority::create(kCaOrganization, "other");
  ASSERT_TRUE(other);
  auto r = HttpClient().send({.url = server->baseUrl() + "/", .caPem = other->certPem()});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kUnavailable) << r.error().toString();

  // The right CA but the wrong name: "localhost" is not in the certificate.
  auto wrongName =
      HttpClient().send({.url = "https://localhost:" + std::to_string(server->port()) + "/",
                         .caPem = ca_->certPem()});
  ASSERT_FALSE(wrongName);

  auto skipped = HttpClient().send({.url = server->baseUrl() + "/", .insecureSkipVerify = true});
  ASSERT_TRUE(skipped) << skipped.error().toString();
  EXPECT_EQ(skipped->status, 200);
}

TEST_F(Https, PlainHttpToTheTlsPortFailsCleanly) {
  auto server = start(false);
  ASSERT_TRUE(server);
  testing::RawSocket s = testing::RawSocket::connectLoopback(server->port());
  ASSERT_TRUE(s.sendAll("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  std::string all;
  EXPECT_TRUE(s.readUntilClose(all));  // closed, no HTTP answer
  EXPECT_EQ(all.find("HTTP/1.1 200"), std::string::npos);
  auto r = HttpClient().send({.url = server->baseUrl() + "/", .caPem = ca_->certPem()});
  ASSERT_TRUE(r) << r.error().toString();
}

TEST_F(Https, AHandshakeThatDoesNotFinishIsCutOffAtTheHandshakeTimeout) {
  auto server = start(true, {.maxConnections = 2,
                             .handshakeTimeout = std::chrono::milliseconds(300),
                             .headerTimeout = std::chrono::seconds(30),
                             .requestTimeout = std::chrono::seconds(30)});
  ASSERT_TRUE(server);
  // Silent, and stuck in the middle of a ClientHello: both hold an unauthenticated place.
  testing::RawSocket silent = testing::RawSocket::connectLoopback(server->port());
  testing::RawSocket partial = testing::RawSocket::connectLoopback(server->port());
  ASSERT_TRUE(partial.sendAll(std::string("\x16\x03\x01\x02\x00\x01", 6)));
  auto start = std::chrono::steady_clock::now();
  std::string ignored;
  EXPECT_TRUE(silent.readUntilClose(ignored));
  EXPECT_TRUE(partial.readUntilClose(ignored));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  // Their places are free again for a client that completes its handshake.
  auto r = HttpClient().send({.url = server->baseUrl() + "/",
                              .caPem = ca_->certPem(),
                              .clientCertPem = clientCert_.certPem,
                              .clientKeyPem = clientCert_.keyPem});
  ASSERT_TRUE(r) << r.error().toString();
  EXPECT_EQ(r->status, 200);
}

}  // namespace
}  // namespace pp::net
