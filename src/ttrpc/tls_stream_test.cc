// ttrpc over mutual TLS (stream.cc's TlsStream: OpenSSL on the non-blocking socket): frames
// larger than a TLS record both ways, many calls at once on one connection, a server that goes
// away, and a handshake the server refuses.
#include <gtest/gtest.h>
#include <signal.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <string>
#include <vector>

#include "net/tls.h"
#include "ttrpc/client.h"
#include "ttrpc/io_thread.h"
#include "ttrpc/listener.h"
#include "ttrpc/server.h"
#include "ttrpc/stream.h"

namespace pp::ttrpc {
namespace {

struct Material {
  std::shared_ptr<asio::ssl::context> server, client, stranger;
};

Material makeMaterial() {
  auto ca = net::CertificateAuthority::create(net::kCaOrganization, "test-ca");
  auto other = net::CertificateAuthority::create(net::kCaOrganization, "other-ca");
  EXPECT_TRUE(ca && other);
  auto server = ca->issueServer("podvm-test");
  auto client = ca->issueClient(net::kClientOrganization, "adaptor");
  auto stranger = other->issueClient(net::kClientOrganization, "stranger");
  EXPECT_TRUE(server && client && stranger);
  Material m;
  m.server = *net::makeServerContext(
      {.certPem = server->certPem, .keyPem = server->keyPem, .clientCaPem = ca->certPem()});
  m.client = *net::makeClientContext({client->certPem, client->keyPem, ca->certPem(), "", false});
  m.stranger =
      *net::makeClientContext({stranger->certPem, stranger->keyPem, ca->certPem(), "", false});
  return m;
}

class TlsStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    material_ = makeMaterial();
    server_.addMethod(
        "test.Echo", "Echo",
        [](const CallContext&, std::string payload) -> asio::awaitable<Result<std::string>> {
          co_return payload;
        });
    auto l = io_.run([&]() -> asio::awaitable<Result<std::unique_ptr<Listener>>> {
      co_return listenTcp(
          io_.executor(), "127.0.0.1", 0, material_.server,
          [this](std::unique_ptr<ByteStream> s) { server_.serveConnection(std::move(s)); });
    });
    ASSERT_TRUE(l) << l.error().toString();
    listener_ = std::move(*l);
  }
  void TearDown() override {
    io_.run([&]() -> asio::awaitable<void> {
      if (listener_) listener_->close();
      server_.shutdown();
      co_return;
    });
  }

  Result<std::shared_ptr<Client>> connect(std::shared_ptr<asio::ssl::context> tls) {
    return io_.run([&]() -> asio::awaitable<Result<std::shared_ptr<Client>>> {
      TcpTarget target;
      target.host = "127.0.0.1";
      target.port = listener_->port();
      target.tls = tls;
      target.serverName = "podvm-test";
      auto s = co_await connectTcp(io_.executor(), target);
      if (!s) co_return fail(s.error());
      co_return Client::create(std::move(*s));
    });
  }

  Material material_;
  IoThread io_;
  Server server_;
  std::unique_ptr<Listener> listener_;
};

TEST_F(TlsStreamTest, LargeFramesAndManyCallsAtOnceComeBackIntact) {
  auto client = connect(material_.client);
  ASSERT_TRUE(client) << client.error().toString();
  // Payloads from one byte to 3 MiB (many TLS records each), 24 calls in flight together.
  std::vector<std::string> payloads;
  for (int i = 0; i < 24; ++i) {
    size_t size = i % 3 == 0 ? (size_t{1} << 20) * (1 + (i / 3) % 3) : 1 + i * 977;
    std::string p(size, '\0');
    for (size_t j = 0; j < size; ++j) p[j] = static_cast<char>((j * 31 + i) & 0xff);
    payloads.push_back(std::move(p));
  }
  std::vector<std::string> answers(payloads.size());
  int ok = io_.run([&]() -> asio::awaitable<int> {
    auto ex = co_await asio::this_coro::executor;
    int good = 0;
    size_t left = payloads.size();
    asio::steady_timer done(ex, asio::steady_timer::time_point::max());
    for (size_t i = 0; i < payloads.size(); ++i) {
      asio::co_spawn(
          ex,
          [&, i]() -> asio::awaitable<void> {
            auto r = co_await (*client)->call("test.Echo", "Echo", payloads[i]);
            if (r) {
              answers[i] = std::move(*r);
              ++good;
            }
            if (--left == 0) done.cancel();
          },
          asio::detached);
    }
    co_await done.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    co_return good;
  });
  EXPECT_EQ(ok, static_cast<int>(payloads.size()));
  for (size_t i = 0; i < payloads.size(); ++i)
    EXPECT_TRUE(answers[i] == payloads[i])
        << "call " << i << " (" << payloads[i].size() << " bytes)";
  io_.run([&]() -> asio::awaitable<void> {
    (*client)->close();
    co_return;
  });
}

TEST_F(TlsStreamTest, CallsFailOnceTheServerClosesTheConnection) {
  auto client = connect(material_.client);
  ASSERT_TRUE(client) << client.error().toString();
  auto first = io_.run([&]() -> asio::awaitable<Result<std::string>> {
    co_return co_await (*client)->call("test.Echo", "Echo", "hello");
  });
  ASSERT_TRUE(first) << first.error().toString();
  EXPECT_EQ(*first, "hello");
  io_.run([&]() -> asio::awaitable<void> {
    server_.shutdown();
    co_return;
  });
  auto after = io_.run([&]() -> asio::awaitable<Result<std::string>> {
    co_return co_await (*client)->call("test.Echo", "Echo", "again");
  });
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, Code::kUnavailable) << after.error().toString();
}

// Writing to a peer that has gone is an error, not SIGPIPE: OpenSSL's own socket BIO would
// write(2) and kill this process (SIGPIPE at its default disposition here, as in a daemon that
// does not ignore it).
TEST_F(TlsStreamTest, WritingAfterThePeerClosedFailsWithoutSigpipe) {
  ::signal(SIGPIPE, SIG_DFL);
  auto gone = io_.run([&]() -> asio::awaitable<Result<std::unique_ptr<Listener>>> {
    co_return listenTcp(io_.executor(), "127.0.0.1", 0, material_.server,
                        [&](std::unique_ptr<ByteStream> s) { s->close(); });
  });
  ASSERT_TRUE(gone) << gone.error().toString();
  auto error = io_.run([&]() -> asio::awaitable<asio::error_code> {
    TcpTarget target;
    target.host = "127.0.0.1";
    target.port = (*gone)->port();
    target.tls = material_.client;
    target.serverName = "podvm-test";
    auto s = co_await connectTcp(io_.executor(), target);
    if (!s) co_return asio::error::not_connected;
    const std::string chunk(64 * 1024, 'x');
    asio::steady_timer pause(io_.executor());
    for (int i = 0; i < 200; ++i) {
      asio::const_buffer b = asio::buffer(chunk);
      if (auto ec = co_await (*s)->writeAll(std::span(&b, 1))) co_return ec;
      pause.expires_after(std::chrono::milliseconds(5));  // let the peer's reset arrive
      co_await pause.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    }
    co_return asio::error_code();
  });
  EXPECT_TRUE(error) << "200 writes to a closed peer all succeeded";
  EXPECT_NE(error, asio::error::not_connected) << "the TLS connection was not made";
  io_.run([&]() -> asio::awaitable<void> {
    (*gone)->close();
    co_return;
  });
}

TEST_F(TlsStreamTest, AClientCertificateFromAnotherCaIsRefused) {
  auto client = connect(material_.stranger);
  if (client) {
    // TLS 1.3: the client's handshake ends before the server checked its certificate; the
    // refusal arrives with the first read.
    auto r = io_.run([&]() -> asio::awaitable<Result<std::string>> {
      co_return co_await (*client)->call("test.Echo", "Echo", "hello");
    });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Code::kUnavailable) << r.error().toString();
  } else {
    EXPECT_NE(client.error().message.find("TLS handshake"), std::string::npos)
        << client.error().toString();
  }
}

}  // namespace
}  // namespace pp::ttrpc
