#include <gtest/gtest.h>
#include <unistd.h>

#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <filesystem>
#include <vector>

#include "ttrpc/client.h"
#include "ttrpc/frame.h"
#include "ttrpc/io_thread.h"
#include "ttrpc/listener.h"
#include "ttrpc/raw_exchange_test_util.h"
#include "ttrpc/request.pb.h"
#include "ttrpc/server.h"

namespace pp::ttrpc {
namespace {

using namespace std::chrono_literals;
using asio::awaitable;
constexpr auto kUse = asio::experimental::as_tuple(asio::use_awaitable);

awaitable<void> sleepFor(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(kUse);
}

class TtrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ttrpc-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "s.sock").string();

    server_.addMethod(
        "test.Echo", "Echo",
        [](const CallContext&, std::string p) -> awaitable<Result<std::string>> { co_return p; });
    server_.addMethod("test.Echo", "Fail",
                      [](const CallContext&, std::string) -> awaitable<Result<std::string>> {
                        co_return fail(Code::kNotFound, "no such thing");
                      });
    // Answers after the number of milliseconds given in the payload.
    server_.addMethod("test.Echo", "Sleep",
                      [](const CallContext&, std::string p) -> awaitable<Result<std::string>> {
                        co_await sleepFor(std::chrono::milliseconds(std::stoi(p)));
                        co_return "slept " + p;
                      });
    server_.addMethod("test.Echo", "Meta",
                      [](const CallContext& ctx, std::string) -> awaitable<Result<std::string>> {
                        std::string out;
                        for (auto& [k, v] : ctx.metadata) out += k + "=" + v + ";";
                        out += ctx.deadline ? "deadline" : "nodeadline";
                        co_return out;
                      });
    // Server streaming: sends the payload's characters one by one.
    server_.addStream("test.Stream", "Split", false, true,
                      [](const CallContext&, ServerStream& s) -> awaitable<Result<std::string>> {
                        auto first = co_await s.recv();
                        if (!first || !*first) co_return fail(Code::kInvalidArgument, "no request");
                        for (char c : **first) {
                          if (auto st = s.send(std::string(1, c)); !st) co_return fail(st.error());
                        }
                        co_return std::string();
                      });
    // Client streaming: concatenates everything it receives.
    server_.addStream("test.Stream", "Join", true, false,
                      [](const CallContext&, ServerStream& s) -> awaitable<Result<std::string>> {
                        std::string all;
                        while (true) {
                          auto m = co_await s.recv();
                          if (!m) co_return fail(m.error());
                          if (!*m) break;
                          all += **m;
                        }
                        co_return all;
                      });
    // Bidi: echoes each message upper-cased.
    server_.addStream("test.Stream", "Upper", true, true,
                      [](const CallContext&, ServerStream& s) -> awaitable<Result<std::string>> {
                        while (true) {
                          auto m = co_await s.recv();
                          if (!m) co_return fail(m.error());
                          if (!*m) break;
                          std::string u = **m;
                          for (auto& c : u) c = static_cast<char>(std::toupper(c));
                          if (auto st = s.send(u); !st) co_return fail(st.error());
                        }
                        co_return std::string();
                      });
    auto l = listenUnix(io_.executor(), path_, [this](std::unique_ptr<ByteStream> s) {
      server_.serveConnection(std::move(s));
    });
    ASSERT_TRUE(l) << l.error().toString();
    listener_ = std::move(*l);
  }

  void TearDown() override {
    listener_.reset();
    server_.shutdown();
    io_.stop();
    std::filesystem::remove_all(dir_);
  }

  std::shared_ptr<Client> connect() {
    return io_.run([this]() -> awaitable<std::shared_ptr<Client>> {
      auto s = co_await connectUnix(io_.executor(), path_);
      if (!s) co_return nullptr;
      co_return Client::create(std::move(*s));
    });
  }

  std::pair<FrameHeader, std::string> rawExchange(const std::string& bytes) {
    return ttrpc::rawExchange(io_, path_, bytes);
  }

  IoThread io_;
  Server server_;
  std::unique_ptr<Listener> listener_;
  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(TtrpcTest, UnaryEchoAndErrors) {
  auto c = connect();
  ASSERT_TRUE(c);
  auto r = io_.run([&] { return c->call("test.Echo", "Echo", "hello"); });
  ASSERT_TRUE(r) << r.error().toString();
  EXPECT_EQ(*r, "hello");
  auto empty = io_.run([&] { return c->call("test.Echo", "Echo", ""); });
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, "");
  auto f = io_.run([&] { return c->call("test.Echo", "Fail", ""); });
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, Code::kNotFound);
  EXPECT_EQ(f.error().message, "no such thing");
  auto us = io_.run([&] { return c->call("nope.Svc", "X", ""); });
  ASSERT_FALSE(us);
  EXPECT_EQ(us.error().code, Code::kUnimplemented);
  EXPECT_EQ(us.error().message, "service nope.Svc");
  auto um = io_.run([&] { return c->call("test.Echo", "Nope", ""); });
  ASSERT_FALSE(um);
  EXPECT_EQ(um.error().code, Code::kUnimplemented);
  EXPECT_EQ(um.error().message, "method Nope");
}

TEST_F(TtrpcTest, ConcurrentCallsAreAnsweredIndependently) {
  auto c = connect();
  ASSERT_TRUE(c);
  // A slow call must not hold up fast ones on the same connection.
  auto results = io_.run([&]() -> awaitable<std::vector<std::string>> {
    std::vector<std::string> order;
    auto ex = co_await asio::this_coro::executor;
    std::atomic<int> left{3};
    asio::steady_timer done(ex, asio::steady_timer::time_point::max());
    auto one = [&](std::string ms) -> awaitable<void> {
      auto r = co_await c->call("test.Echo", "Sleep", ms);
      order.push_back(r ? *r : r.error().toString());
      if (--left == 0) done.cancel();
    };
    asio::co_spawn(ex, one("300"), asio::detached);
    asio::co_spawn(ex, one("10"), asio::detached);
    asio::co_spawn(ex, one("100"), asio::detached);
    co_await done.async_wait(kUse);
    co_return order;
  });
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0], "slept 10");
  EXPECT_EQ(results[1], "slept 100");
  EXPECT_EQ(results[2], "slept 300");
}

TEST_F(TtrpcTest, ManyConcurrentCallsOnOneConnection) {
  auto c = connect();
  ASSERT_TRUE(c);
  int ok = io_.run([&]() -> awaitable<int> {
    auto ex = co_await asio::this_coro::executor;
    int good = 0, left = 500;
    asio::steady_timer done(ex, asio::steady_timer::time_point::max());
    for (int i = 0; i < 500; ++i) {
      asio::co_spawn(
          ex,
          [&, i]() -> awaitable<void> {
            auto r = co_await c->call("test.Echo", "Echo", std::to_string(i));
            if (r && *r == std::to_string(i)) ++good;
            if (--left == 0) done.cancel();
          },
          asio::detached);
    }
    co_await done.async_wait(kUse);
    co_return good;
  });
  EXPECT_EQ(ok, 500);
}

TEST_F(TtrpcTest, DeadlineReachesServerAndExpiresOnClient) {
  auto c = connect();
  ASSERT_TRUE(c);
  CallOptions opts;
  opts.deadline = std::chrono::steady_clock::now() + 100ms;
  auto start = std::chrono::steady_clock::now();
  auto r = io_.run([&] { return c->call("test.Echo", "Sleep", "2000", opts); });
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kDeadlineExceeded);
  EXPECT_LT(took, 1500ms);
  // The connection still works afterwards, and a late response is dropped.
  auto ok = io_.run([&] { return c->call("test.Echo", "Echo", "after"); });
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, "after");
}

TEST_F(TtrpcTest, ServerEnforcesTimeoutNano) {
  // A raw request with a 50 ms timeout to a handler that sleeps 2 s: the server answers
  // DEADLINE_EXCEEDED itself.
  ::ttrpc::Request req;
  req.set_service("test.Echo");
  req.set_method("Sleep");
  req.set_payload("2000");
  req.set_timeout_nano(50'000'000);
  auto [h, body] = rawExchange(encodeFrame(1, MessageType::kRequest, 0, req.SerializeAsString()));
  ::ttrpc::Response resp;
  ASSERT_TRUE(resp.ParseFromString(body));
  EXPECT_EQ(resp.status().code(), static_cast<int>(Code::kDeadlineExceeded));
}

TEST_F(TtrpcTest, MetadataAndDeadlineArePassedToHandlers) {
  auto c = connect();
  ASSERT_TRUE(c);
  CallOptions opts;
  opts.deadline = std::chrono::steady_clock::now() + 5s;
  opts.metadata = {{"traceparent", "00-1-2-01"}, {"k", "v1"}, {"k", "v2"}};
  auto r = io_.run([&] { return c->call("test.Echo", "Meta", "", opts); });
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "traceparent=00-1-2-01;k=v1;k=v2;deadline");
}

TEST_F(TtrpcTest, StreamIdRulesAsGo) {
  ::ttrpc::Request req;
  req.set_service("test.Echo");
  req.set_method("Echo");
  auto [h, body] = rawExchange(encodeFrame(2, MessageType::kRequest, 0, req.SerializeAsString()));
  EXPECT_EQ(h.streamId, 2u);
  ::ttrpc::Response resp;
  ASSERT_TRUE(resp.ParseFromString(body));
  EXPECT_EQ(resp.status().code(), 3);
  EXPECT_EQ(resp.status().message(), "StreamID must be odd for client initiated streams");

  // Re-use of a stream id on one connection.
  std::string two = encodeFrame(5, MessageType::kRequest, 0, req.SerializeAsString()) +
                    encodeFrame(3, MessageType::kRequest, 0, req.SerializeAsString());
  auto frames = io_.run([&]() -> awaitable<std::vector<std::pair<FrameHeader, std::string>>> {
    asio::local::stream_protocol::socket sock(io_.executor());
    co_await sock.async_connect(asio::local::stream_protocol::endpoint(path_), asio::use_awaitable);
    co_await asio::async_write(sock, asio::buffer(two), asio::use_awaitable);
    std::vector<std::pair<FrameHeader, std::string>> out;
    for (int i = 0; i < 2; ++i) {
      uint8_t hdr[kHeaderSize];
      co_await asio::async_read(sock, asio::buffer(hdr), asio::use_awaitable);
      FrameHeader fh = decodeHeader(hdr);
      std::string b(fh.length, '\0');
      co_await asio::async_read(sock, asio::buffer(b), asio::use_awaitable);
      out.emplace_back(fh, b);
    }
    co_return out;
  });
  bool sawReuse = false;
  for (auto& [fh, b] : frames) {
    ::ttrpc::Response r;
    ASSERT_TRUE(r.ParseFromString(b));
    if (fh.streamId == 3) {
      sawReuse = true;
      EXPECT_EQ(r.status().message(), "StreamID cannot be re-used and must increment");
    }
  }
  EXPECT_TRUE(sawReuse);
}

TEST_F(TtrpcTest, OversizedAndMalformedRequestsGetErrorsAndConnectionSurvives) {
  // Header claims 4 MiB + 1; the body is sent; the server answers RESOURCE_EXHAUSTED.
  std::string big(kMaxMessageLength + 1, 'a');
  uint8_t hdr[kHeaderSize];
  encodeHeader(FrameHeader{static_cast<uint32_t>(big.size()), 1, 1, 0}, hdr);
  ::ttrpc::Request req;
  req.set_service("test.Echo");
  req.set_method("Echo");
  req.set_payload("still alive");
  std::string bytes = std::string(reinterpret_cast<char*>(hdr), kHeaderSize) + big +
                      encodeFrame(3, MessageType::kRequest, 0, "\xff\xff") +
                      encodeFrame(5, MessageType::kRequest, 0, req.SerializeAsString());
  auto frames = io_.run([&]() -> awaitable<std::vector<std::pair<FrameHeader, std::string>>> {
    asio::local::stream_protocol::socket sock(io_.executor());
    co_await sock.async_connect(asio::local::stream_protocol::endpoint(path_), asio::use_awaitable);
    co_await asio::async_write(sock, asio::buffer(bytes), asio::use_awaitable);
    std::vector<std::pair<FrameHeader, std::string>> out;
    for (int i = 0; i < 3; ++i) {
      uint8_t h[kHeaderSize];
      co_await asio::async_read(sock, asio::buffer(h), asio::use_awaitable);
      FrameHeader fh = decodeHeader(h);
      std::string b(fh.length, '\0');
      co_await asio::async_read(sock, asio::buffer(b), asio::use_awaitable);
      out.emplace_back(fh, b);
    }
    co_return out;
  });
  ASSERT_EQ(frames.size(), 3u);
  ::ttrpc::Response r1, r3, r5;
  ASSERT_TRUE(r1.ParseFromString(frames[0].second));
  EXPECT_EQ(frames[0].first.streamId, 1u);
  EXPECT_EQ(r1.status().code(), 8);
  EXPECT_EQ(r1.status().message(), "message length 4194305 exceed maximum message size of 4194304");
  ASSERT_TRUE(r3.ParseFromString(frames[1].second));
  EXPECT_EQ(r3.status().code(), 3);
  ASSERT_TRUE(r5.ParseFromString(frames[2].second));
  EXPECT_EQ(r5.payload(), "still alive");
}

TEST_F(TtrpcTest, FallbackRelaysUnknownMethods) {
  Server relay;
  relay.setFallback([](const CallContext& ctx, std::string p) -> awaitable<Result<std::string>> {
    co_return ctx.service + "/" + ctx.method + ":" + p;
  });
  auto path = (dir_ / "relay.sock").string();
  auto l = listenUnix(io_.executor(), path,
                      [&](std::unique_ptr<ByteStream> s) { relay.serveConnection(std::move(s)); });
  ASSERT_TRUE(l);
  auto r = io_.run([&]() -> awaitable<Result<std::string>> {
    auto s = co_await connectUnix(io_.executor(), path);
    if (!s) co_return fail(s.error());
    auto c = Client::create(std::move(*s));
    co_return co_await c->call("grpc.AgentService", "GetDiagnosticData", "xyz");
  });
  ASSERT_TRUE(r) << r.error().toString();
  EXPECT_EQ(*r, "grpc.AgentService/GetDiagnosticData:xyz");
  relay.shutdown();
}

TEST_F(TtrpcTest, ServerStreaming) {
  auto c = connect();
  ASSERT_TRUE(c);
  auto got = io_.run([&]() -> awaitable<std::vector<std::string>> {
    std::vector<std::string> out;
    auto s = c->openStream("test.Stream", "Split", false, true, "abc");
    if (!s) co_return out;
    while (true) {
      auto m = co_await (*s)->recv();
      if (!m) {
        out.push_back("error:" + m.error().message);
        break;
      }
      if (!*m) break;
      out.push_back(**m);
    }
    co_return out;
  });
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(TtrpcTest, ClientStreamingAndBidi) {
  auto c = connect();
  ASSERT_TRUE(c);
  auto joined = io_.run([&]() -> awaitable<std::string> {
    auto s = c->openStream("test.Stream", "Join", true, false);
    if (!s) co_return "open failed";
    for (auto part : {"x", "y", "z"}) (void)(*s)->send(part);
    (void)(*s)->closeSend();
    auto m = co_await (*s)->recv();
    if (!m) co_return m.error().toString();
    co_return m->value_or("<none>");
  });
  EXPECT_EQ(joined, "xyz");

  auto upper = io_.run([&]() -> awaitable<std::vector<std::string>> {
    std::vector<std::string> out;
    auto s = c->openStream("test.Stream", "Upper", true, true);
    if (!s) co_return out;
    for (auto part : {"ab", "cd"}) {
      (void)(*s)->send(part);
      auto m = co_await (*s)->recv();
      if (m && *m) out.push_back(**m);
    }
    (void)(*s)->closeSend();
    auto end = co_await (*s)->recv();
    out.push_back(end && !*end ? "end" : "no-end");
    co_return out;
  });
  EXPECT_EQ(upper, (std::vector<std::string>{"AB", "CD", "end"}));
}

TEST_F(TtrpcTest, CallsFailWhenTheServerGoesAway) {
  auto c = connect();
  ASSERT_TRUE(c);
  auto r = io_.run([&]() -> awaitable<Result<std::string>> {
    auto ex = co_await asio::this_coro::executor;
    asio::co_spawn(
        ex,
        [&]() -> awaitable<void> {
          co_await sleepFor(50ms);
          server_.shutdown();
        },
        asio::detached);
    co_return co_await c->call("test.Echo", "Sleep", "5000");
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_TRUE(c->closed());
}

}  // namespace
}  // namespace pp::ttrpc
