#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <chrono>

#include "net/tls.h"

namespace pp::net {
namespace {

using asio::ip::tcp;
using TlsStream = asio::ssl::stream<tcp::socket>;
constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);

struct Outcome {
  bool serverHandshake = false;
  bool clientHandshake = false;
  bool exchanged = false;  // the client sent "ping" and read the server's "pong"
  std::string serverError;
  std::string clientError;
};

asio::awaitable<void> serveOnce(tcp::acceptor& acceptor, asio::ssl::context& ctx, Outcome* out) {
  auto [acceptError, socket] = co_await acceptor.async_accept(kTuple);
  if (acceptError) co_return;
  TlsStream stream(std::move(socket), ctx);
  auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kTuple);
  if (ec) {
    out->serverError = ec.message();
    co_return;
  }
  out->serverHandshake = true;
  char buf[4];
  auto [readError, n] = co_await asio::async_read(stream, asio::buffer(buf), kTuple);
  if (readError || std::string_view(buf, 4) != "ping") co_return;
  co_await asio::async_write(stream, asio::buffer("pong", 4), kTuple);
}

asio::awaitable<void> connectOnce(tcp::endpoint endpoint, asio::ssl::context& ctx, std::string name,
                                  Outcome* out) {
  TlsStream stream(co_await asio::this_coro::executor, ctx);
  auto [connectError] = co_await stream.lowest_layer().async_connect(endpoint, kTuple);
  if (connectError) {
    out->clientError = connectError.message();
    co_return;
  }
  if (!name.empty()) {
    auto st = prepareClientStream(stream, name);
    if (!st) {
      out->clientError = st.error().toString();
      co_return;
    }
  }
  auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::client, kTuple);
  if (ec) {
    out->clientError = ec.message();
    co_return;
  }
  out->clientHandshake = true;
  auto [writeError, written] = co_await asio::async_write(stream, asio::buffer("ping", 4), kTuple);
  char buf[4];
  auto [readError, n] = co_await asio::async_read(stream, asio::buffer(buf), kTuple);
  if (writeError || readError) {
    out->clientError = (writeError ? writeError : readError).message();
    co_return;
  }
  out->exchanged = std::string_view(buf, 4) == "pong";
}

// One connection over loopback between a server and a client context.
Outcome handshake(asio::ssl::context& server, asio::ssl::context& client, std::string name = "") {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  Outcome out;
  asio::co_spawn(io, serveOnce(acceptor, server, &out), asio::detached);
  asio::co_spawn(io, connectOnce(acceptor.local_endpoint(), client, std::move(name), &out),
                 asio::detached);
  io.run_for(std::chrono::seconds(20));
  return out;
}

class TlsContexts : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = CertificateAuthority::create(kCaOrganization, "ca");
    ASSERT_TRUE(ca) << ca.error().toString();
    ca_ = std::make_unique<CertificateAuthority>(*ca);
    auto other = CertificateAuthority::create(kCaOrganization, "other ca");
    ASSERT_TRUE(other);
    otherCa_ = std::make_unique<CertificateAuthority>(*other);
    auto server = ca_->issueServer("podvm-a");
    auto client = ca_->issueClient(kClientOrganization, "cloud-api-adaptor");
    ASSERT_TRUE(server && client);
    serverCert_ = *server;
    clientCert_ = *client;
  }

  std::shared_ptr<asio::ssl::context> server(const CertifiedKey& cert,
                                             const std::string& clientCa) {
    auto ctx = makeServerContext(
        {.certPem = cert.certPem, .keyPem = cert.keyPem, .clientCaPem = clientCa});
    EXPECT_TRUE(ctx) << ctx.error().toString();
    return ctx ? *ctx : nullptr;
  }
  std::shared_ptr<asio::ssl::context> client(TlsClientConfig config) {
    auto ctx = makeClientContext(config);
    EXPECT_TRUE(ctx) << ctx.error().toString();
    return ctx ? *ctx : nullptr;
  }

  std::unique_ptr<CertificateAuthority> ca_;
  std::unique_ptr<CertificateAuthority> otherCa_;
  CertifiedKey serverCert_;
  CertifiedKey clientCert_;
};

TEST_F(TlsContexts, MutualTlsSucceedsWithTheRightCertificates) {
  auto s = server(serverCert_, ca_->certPem());
  auto c = client(
      {.certPem = clientCert_.certPem, .keyPem = clientCert_.keyPem, .caPem = ca_->certPem()});
  ASSERT_TRUE(s && c);
  Outcome out = handshake(*s, *c, "podvm-a");
  EXPECT_TRUE(out.serverHandshake) << out.serverError;
  EXPECT_TRUE(out.clientHandshake) << out.clientError;
  EXPECT_TRUE(out.exchanged) << out.clientError;
}

TEST_F(TlsContexts, UpstreamSchemeWithASelfSignedClientCertificate) {
  // The forwarder trusts exactly the adaptor's self-signed client certificate.
  auto selfSigned = selfSignedClient(kClientOrganization);
  ASSERT_TRUE(selfSigned);
  auto s = server(serverCert_, selfSigned->certPem);
  auto c = client(
      {.certPem = selfSigned->certPem, .keyPem = selfSigned->keyPem, .caPem = ca_->certPem()});
  ASSERT_TRUE(s && c);
  Outcome out = handshake(*s, *c, "podvm-a");
  EXPECT_TRUE(out.exchanged) << out.serverError << " / " << out.clientError;

  // Another self-signed certificate with the same subject is not it.
  auto impostor = selfSignedClient(kClientOrganization);
  ASSERT_TRUE(impostor);
  auto c2 =
      client({.certPem = impostor->certPem, .keyPem = impostor->keyPem, .caPem = ca_->certPem()});
  out = handshake(*s, *c2, "podvm-a");
  EXPECT_FALSE(out.serverHandshake);
  EXPECT_FALSE(out.exchanged);
}

TEST_F(TlsContexts, FailsWhenTheClientHasNoCertificate) {
  auto s = server(serverCert_, ca_->certPem());
  auto c = client({.caPem = ca_->certPem()});
  ASSERT_TRUE(s && c);
  Outcome out = handshake(*s, *c, "podvm-a");
  EXPECT_FALSE(out.serverHandshake);
  EXPECT_FALSE(out.serverError.empty());
  EXPECT_FALSE(out.exchanged);
}

TEST_F(TlsContexts, FailsWithAClientCertificateFromAnotherCa) {
  auto foreign = otherCa_->issueClient(kClientOrganization, "cloud-api-adaptor");
  ASSERT_TRUE(foreign);
  auto s = server(serverCert_, ca_->certPem());
  auto c =
      client({.certPem = foreign->certPem, .keyPem = foreign->keyPem, .caPem = ca_->certPem()});
  ASSERT_TRUE(s && c);
  Outcome out = handshake(*s, *c, "podvm-a");
  EXPECT_FALSE(out.serverHandshake);
  EXPECT_FALSE(out.exchanged);
}

TEST_F(TlsContexts, FailsWhenTheServerNameDoesNotMatch) {
  auto s = server(serverCert_, ca_->certPem());
  auto c = client(
      {.certPem = clientCert_.certPem, .keyPem = clientCert_.keyPem, .caPem = ca_->certPem()});
  ASSERT_TRUE(s && c);
  Outcome out = handshake(*s, *c, "podvm-b");
  EXPECT_FALSE(out.clientHandshake);
  EXPECT_FALSE(out.clientError.empty());
  EXPECT_FALSE(out.exchanged);

  // The same with the name given on the context instead of the stream.
  auto wrong = client({.certPem = clientCert_.certPem,
                       .keyPem = clientCert_.keyPem,
                       .caPem = ca_->certPem(),
                       .serverName = "podvm-b"});
  EXPECT_FALSE(handshake(*s, *wrong).clientHandshake);
  auto right = client({.certPem = clientCert_.certPem,
                       .keyPem = clientCert_.keyPem,
                       .caPem = ca_->certPem(),
                       .serverName = "podvm-a"});
  EXPECT_TRUE(handshake(*s, *right).exchanged);
  // A per-stream name overrides the context's.
  EXPECT_TRUE(handshake(*s, *wrong, "podvm-a").exchanged);
}

TEST_F(TlsContexts, FailsWithAServerCertificateFromAnotherCa) {
  auto foreign = otherCa_->issueServer("podvm-a");
  ASSERT_TRUE(foreign);
  auto s = server(*foreign, ca_->certPem());
  auto c = client(
      {.certPem = clientCert_.certPem, .keyPem = clientCert_.keyPem, .caPem = ca_->certPem()});
  ASSERT_TRUE(s && c);
  Outcome out = handshake(*s, *c, "podvm-a");
  EXPECT_FALSE(out.clientHandshake);
  EXPECT_FALSE(out.exchanged);
}

TEST_F(TlsContexts, SkipVerifyAcceptsAnyServer) {
  auto foreign = otherCa_->issueServer("somewhere-else");
  ASSERT_TRUE(foreign);
  auto s = server(*foreign, ca_->certPem());
  auto c =
      client({.certPem = clientCert_.certPem, .keyPem = clientCert_.keyPem, .skipVerify = true});
  ASSERT_TRUE(s && c);
  Outcome out = handshake(*s, *c, "podvm-a");
  EXPECT_TRUE(out.exchanged) << out.serverError << " / " << out.clientError;
}

TEST_F(TlsContexts, ACertificateInTheBundleIsTrustedAsIs) {
  // As with Go's root pools: pinning the server's own (CA-issued, not self-signed) certificate
  // is enough, the CA need not be in the bundle.
  auto s = server(serverCert_, "");
  auto c = client({.caPem = serverCert_.certPem});
  ASSERT_TRUE(s && c);
  EXPECT_TRUE(handshake(*s, *c, "podvm-a").exchanged);
  auto otherLeaf = ca_->issueServer("podvm-a");
  ASSERT_TRUE(otherLeaf);
  auto pinnedOther = client({.caPem = otherLeaf->certPem});
  EXPECT_FALSE(handshake(*s, *pinnedOther, "podvm-a").clientHandshake);
}

TEST_F(TlsContexts, ServerWithoutClientCaAcceptsAnonymousClients) {
  auto s = server(serverCert_, "");
  auto c = client({.caPem = ca_->certPem()});
  ASSERT_TRUE(s && c);
  EXPECT_TRUE(handshake(*s, *c, "podvm-a").exchanged);
}

TEST_F(TlsContexts, IpAddressNames) {
  auto ipCert = ca_->issueServer("127.0.0.1");
  ASSERT_TRUE(ipCert);
  auto s = server(*ipCert, ca_->certPem());
  auto c = client(
      {.certPem = clientCert_.certPem, .keyPem = clientCert_.keyPem, .caPem = ca_->certPem()});
  ASSERT_TRUE(s && c);
  EXPECT_TRUE(handshake(*s, *c, "127.0.0.1").exchanged);
  EXPECT_FALSE(handshake(*s, *c, "127.0.0.2").clientHandshake);
  EXPECT_FALSE(handshake(*s, *c, "localhost").clientHandshake);
}

TEST_F(TlsContexts, RequireTls12AtLeast) {
  auto s = server(serverCert_, ca_->certPem());
  auto c = client({.caPem = ca_->certPem()});
  ASSERT_TRUE(s && c);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(s->native_handle()), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(c->native_handle()), TLS1_2_VERSION);
}

TEST_F(TlsContexts, TheTlsProfileIsApplied) {
  auto tls13 = parseTlsProfile("VersionTLS13", {});
  auto suites = parseTlsProfile("", {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"});
  ASSERT_TRUE(tls13 && suites);
  auto s = makeServerContext({.certPem = serverCert_.certPem,
                              .keyPem = serverCert_.keyPem,
                              .clientCaPem = ca_->certPem(),
                              .profile = *tls13});
  auto c = makeClientContext({.certPem = clientCert_.certPem,
                              .keyPem = clientCert_.keyPem,
                              .caPem = ca_->certPem(),
                              .profile = *suites});
  ASSERT_TRUE(s && c);
  EXPECT_EQ(SSL_CTX_get_min_proto_version((*s)->native_handle()), TLS1_3_VERSION);
  EXPECT_EQ(SSL_CTX_get_min_proto_version((*c)->native_handle()), TLS1_2_VERSION);
  // Still one handshake (TLS 1.3, whose suites the profile leaves alone).
  Outcome out = handshake(**s, **c, "podvm-a");
  EXPECT_TRUE(out.exchanged) << out.clientError << out.serverError;
  // Suites this OpenSSL lacks fail the context, naming them.
  auto rc4 = parseTlsProfile("", {"TLS_RSA_WITH_RC4_128_SHA"});
  ASSERT_TRUE(rc4);
  auto none = makeClientContext({.caPem = ca_->certPem(), .profile = *rc4});
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("RC4-SHA"), std::string::npos) << none.error().message;
}

TEST_F(TlsContexts, ReleaseBuffersNoRenegotiationNoTickets) {
  auto s = server(serverCert_, ca_->certPem());
  auto c = client({.caPem = ca_->certPem()});
  ASSERT_TRUE(s && c);
  for (SSL_CTX* ctx : {s->native_handle(), c->native_handle()}) {
    EXPECT_TRUE(SSL_CTX_get_mode(ctx) & SSL_MODE_RELEASE_BUFFERS);
    EXPECT_TRUE(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION);
  }
  EXPECT_EQ(SSL_CTX_get_verify_mode(s->native_handle()),
            SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
  EXPECT_EQ(SSL_CTX_get_num_tickets(s->native_handle()), 0u) << "servers send no session tickets";
}

TEST_F(TlsContexts, RefuseInconsistentConfigurations) {
  auto skipWithCa = makeClientContext({.caPem = ca_->certPem(), .skipVerify = true});
  ASSERT_FALSE(skipWithCa);
  EXPECT_EQ(skipWithCa.error().code, Code::kInvalidArgument);
  EXPECT_FALSE(makeClientContext({}));
  EXPECT_FALSE(makeClientContext({.certPem = clientCert_.certPem, .caPem = ca_->certPem()}));
  EXPECT_FALSE(makeClientContext({.caPem = "not pem"}));

  auto mismatch = makeServerContext({.certPem = serverCert_.certPem, .keyPem = clientCert_.keyPem});
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.error().message.find("does not match"), std::string::npos);
  EXPECT_EQ(mismatch.error().message.find("BEGIN"), std::string::npos);
  EXPECT_FALSE(makeServerContext({.certPem = "x", .keyPem = serverCert_.keyPem}));
  EXPECT_FALSE(makeServerContext(
      {.certPem = serverCert_.certPem, .keyPem = serverCert_.keyPem, .clientCaPem = "junk"}));
  EXPECT_FALSE(makeServerContext({}));
}

}  // namespace
}  // namespace pp::net
