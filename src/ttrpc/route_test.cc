// Server::setRoute + Client::forward: a relay passes calls on as frames, without decoding them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <filesystem>
#include <thread>
#include <vector>

#include "ttrpc/channel.h"
#include "ttrpc/client.h"
#include "ttrpc/envelope.h"
#include "ttrpc/io_thread.h"
#include "ttrpc/listener.h"
#include "ttrpc/raw_exchange_test_util.h"
#include "ttrpc/request.pb.h"
#include "ttrpc/server.h"

namespace pp::ttrpc {
namespace {

using namespace std::chrono_literals;
using asio::awaitable;
using Clock = std::chrono::steady_clock;

// The next server, at the frame level: records what arrives and answers as told.
struct Peer {
  enum class Mode { kEcho, kHold, kClose, kGarbage, kRustStyle };
  Mode mode = Mode::kEcho;
  std::vector<std::pair<FrameHeader, std::string>> received;
  std::vector<uint32_t> held;  // requests not answered yet (kHold)
  std::shared_ptr<FrameChannel> channel;

  void serve(std::unique_ptr<ByteStream> s) {
    channel = std::make_shared<FrameChannel>(std::move(s));
    asio::co_spawn(channel->executor(), loop(channel), asio::detached);
  }
  awaitable<void> loop(std::shared_ptr<FrameChannel> ch) {
    while (true) {
      auto frame = co_await ch->readFrame();
      if (!frame) break;
      received.emplace_back(frame->header, frame->body);
      const uint32_t id = frame->header.streamId;
      switch (mode) {
        case Mode::kEcho: {
          ::ttrpc::Request req;
          req.ParseFromString(frame->body);
          ch->send(id, MessageType::kResponse, 0, encodeResponse(req.payload()));
          break;
        }
        case Mode::kHold:
          held.push_back(id);
          break;
        case Mode::kClose:
          ch->close();
          break;
        case Mode::kGarbage:
          ch->send(id, MessageType::kResponse, 0, "\xff\xff");
          break;
        case Mode::kRustStyle:
          ch->send(id, MessageType::kResponse, 0, std::string("\x0a\x00\x12\x02\x08\x01", 6));
          break;
      }
    }
  }
  void answerHeld() {
    for (uint32_t id : held) channel->send(id, MessageType::kResponse, 0, encodeResponse("late"));
    held.clear();
  }
};

class RouteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ttrpc-route-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    const std::string peerPath = (dir_ / "peer.sock").string();
    relayPath_ = (dir_ / "relay.sock").string();

    auto pl = listenUnix(io_.executor(), peerPath,
                         [this](std::unique_ptr<ByteStream> s) { peer_.serve(std::move(s)); });
    ASSERT_TRUE(pl) << pl.error().toString();
    peerListener_ = std::move(*pl);
    upstream_ = io_.run([&]() -> awaitable<std::shared_ptr<Client>> {
      auto s = co_await connectUnix(io_.executor(), peerPath);
      if (!s) co_return nullptr;
      co_return Client::create(std::move(*s));
    });
    ASSERT_TRUE(upstream_);

    relay_.addMethod("test.Local", "Hello",
                     [](const CallContext&, std::string) -> awaitable<Result<std::string>> {
                       co_return std::string("local");
                     });
    relay_.setFallback([](const CallContext& ctx, std::string) -> awaitable<Result<std::string>> {
      co_return "fallback:" + ctx.method;
    });
    relay_.setRoute(Route{.next = [this](std::string_view, std::string_view) -> Client* {
                            ++routed_;
                            return routeOn_ ? upstream_.get() : nullptr;
                          },
                          .answered = [this](Code code) { answered_.push_back(code); }});
    auto rl = listenUnix(io_.executor(), relayPath_, [this](std::unique_ptr<ByteStream> s) {
      relay_.serveConnection(std::move(s));
    });
    ASSERT_TRUE(rl) << rl.error().toString();
    relayListener_ = std::move(*rl);
  }

  void TearDown() override {
    io_.run([&]() -> awaitable<void> {
      relayListener_.reset();
      peerListener_.reset();
      relay_.shutdown();
      if (upstream_) upstream_->close();
      upstream_.reset();
      if (peer_.channel) peer_.channel->close();
      co_return;
    });
    io_.stop();
    std::filesystem::remove_all(dir_);
  }

  std::shared_ptr<Client> connect() {
    return io_.run([this]() -> awaitable<std::shared_ptr<Client>> {
      auto s = co_await connectUnix(io_.executor(), relayPath_);
      if (!s) co_return nullptr;
      co_return Client::create(std::move(*s));
    });
  }

  Result<std::string> call(const std::shared_ptr<Client>& c, std::string method,
                           std::string payload, std::optional<Clock::time_point> deadline = {}) {
    return io_.run([&]() -> awaitable<Result<std::string>> {
      CallOptions opts;
      opts.deadline = deadline;
      co_return co_await c->call("test.Remote", method, payload, opts);
    });
  }

  std::pair<FrameHeader, std::string> rawExchange(const std::string& bytes) {
    return ttrpc::rawExchange(io_, relayPath_, bytes);
  }

  template <typename T>
  T onIo(std::function<T()> fn) {
    return io_.run([&]() -> awaitable<T> { co_return fn(); });
  }
  void setMode(Peer::Mode m) {
    io_.run([&]() -> awaitable<void> {
      peer_.mode = m;
      co_return;
    });
  }

  IoThread io_;
  Peer peer_;
  Server relay_;
  std::shared_ptr<Client> upstream_;
  std::unique_ptr<Listener> peerListener_, relayListener_;
  bool routeOn_ = true;
  int routed_ = 0;
  std::vector<Code> answered_;
  std::filesystem::path dir_;
  std::string relayPath_;
};

TEST_F(RouteTest, RequestAndAnswerPassAsTheyCameUnderTheNextConnectionsStreamIds) {
  setMode(Peer::Mode::kRustStyle);
  ::ttrpc::Request req;
  req.set_service("grpc.AgentService");
  req.set_method("ReadStdout");
  req.set_payload(
      "\x0a\x02"
      "c1");
  req.set_timeout_nano(5'000'000'000);
  auto* kv = req.add_metadata();
  kv->set_key("traceparent");
  kv->set_value("00-1-2-01");
  const std::string body = req.SerializeAsString();
  // Stream 7 from the caller (ids need only be odd and increasing).
  auto [h, answer] = rawExchange(encodeFrame(7, MessageType::kRequest, 0, body));
  EXPECT_EQ(h.streamId, 7u);
  EXPECT_EQ(h.type, static_cast<uint8_t>(MessageType::kResponse));
  // The Rust-style answer (status with code 0) is not re-encoded Go-style: it was not decoded.
  EXPECT_EQ(answer, std::string("\x0a\x00\x12\x02\x08\x01", 6));
  auto received =
      onIo<std::vector<std::pair<FrameHeader, std::string>>>([&] { return peer_.received; });
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].first.streamId, 1u);  // the upstream connection's first stream
  EXPECT_EQ(received[0].first.flags, 0);
  EXPECT_EQ(received[0].second, body);  // byte for byte: metadata and timeout_nano included
  EXPECT_EQ(onIo<std::vector<Code>>([&] { return answered_; }), std::vector<Code>{Code::kOk});
}

TEST_F(RouteTest, HandlersComeFirstAndNoRouteMeansTheFallback) {
  auto c = connect();
  ASSERT_TRUE(c);
  auto local = io_.run([&] { return c->call("test.Local", "Hello", ""); });
  ASSERT_TRUE(local);
  EXPECT_EQ(*local, "local");
  EXPECT_EQ(onIo<int>([&] { return routed_; }), 0);  // not even offered to the route

  auto routed = call(c, "Echo", "via the peer");
  ASSERT_TRUE(routed) << routed.error().toString();
  EXPECT_EQ(*routed, "via the peer");

  io_.run([&]() -> awaitable<void> {
    routeOn_ = false;
    co_return;
  });
  auto fallback = call(c, "Echo", "x");
  ASSERT_TRUE(fallback);
  EXPECT_EQ(*fallback, "fallback:Echo");
  EXPECT_EQ(onIo<size_t>([&] { return peer_.received.size(); }), 1u);
}

TEST_F(RouteTest, DeadlinesAreKeptByTheRelayEarliestFirst) {
  setMode(Peer::Mode::kHold);
  auto c = connect();
  ASSERT_TRUE(c);
  const auto start = Clock::now();
  // The later deadline is armed first; the earlier one must re-arm the relay's timer.
  auto results = io_.run([&]() -> awaitable<std::vector<std::pair<Code, Clock::duration>>> {
    std::vector<std::pair<Code, Clock::duration>> out(2);
    int done = 0;
    asio::steady_timer all(io_.executor(), Clock::time_point::max());
    auto one = [&](int i, std::chrono::milliseconds d) -> awaitable<void> {
      CallOptions opts;
      opts.deadline = Clock::now() + d;
      auto r = co_await c->call("test.Remote", "Sleep", "", opts);
      out[i] = {r ? Code::kOk : r.error().code, Clock::now() - start};
      if (++done == 2) all.cancel();
    };
    asio::co_spawn(io_.executor(), one(0, 900ms), asio::detached);
    asio::co_spawn(io_.executor(), one(1, 200ms), asio::detached);
    co_await all.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    co_return out;
  });
  // Our client keeps its own deadline too; what is checked is that the relay answered, below.
  EXPECT_EQ(results[0].first, Code::kDeadlineExceeded);
  EXPECT_EQ(results[1].first, Code::kDeadlineExceeded);
  EXPECT_LT(results[1].second, results[0].second);
  // The relay answered both itself (the peer never did), earliest first.
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(onIo<std::vector<Code>>([&] { return answered_; }),
            (std::vector<Code>{Code::kDeadlineExceeded, Code::kDeadlineExceeded}));
  // Late answers are dropped; the connections still work.
  io_.run([&]() -> awaitable<void> {
    peer_.answerHeld();
    peer_.mode = Peer::Mode::kEcho;
    co_return;
  });
  auto after = call(c, "Echo", "after");
  ASSERT_TRUE(after) << after.error().toString();
  EXPECT_EQ(*after, "after");
}

TEST_F(RouteTest, TheRelayAnswersDeadlineExceededWithoutTheCallersHelp) {
  // A raw caller that keeps no deadlines itself: the answers must come from the relay. The
  // second call's deadline is earlier than the first's, so the relay's one timer is re-armed.
  setMode(Peer::Mode::kHold);
  auto request = [](int64_t timeoutNano) {
    ::ttrpc::Request req;
    req.set_service("test.Remote");
    req.set_method("Hang");
    req.set_timeout_nano(timeoutNano);
    return req.SerializeAsString();
  };
  const std::string bytes = encodeFrame(1, MessageType::kRequest, 0, request(3'000'000'000)) +
                            encodeFrame(3, MessageType::kRequest, 0, request(150'000'000));
  const auto start = Clock::now();
  auto [h, body] = rawExchange(bytes);
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_EQ(h.streamId, 3u);
  ::ttrpc::Response resp;
  ASSERT_TRUE(resp.ParseFromString(body));
  EXPECT_EQ(resp.status().code(), static_cast<int>(Code::kDeadlineExceeded));
  EXPECT_EQ(resp.status().message(), "context deadline exceeded");
}

TEST_F(RouteTest, UpstreamLossAndMalformedAnswersBecomeErrors) {
  auto c = connect();
  ASSERT_TRUE(c);
  setMode(Peer::Mode::kGarbage);
  auto bad = call(c, "Echo", "x");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Code::kInternal);
  EXPECT_EQ(bad.error().message, "ttrpc: malformed response envelope");

  setMode(Peer::Mode::kClose);
  auto lost = call(c, "Echo", "x", Clock::now() + 5s);
  ASSERT_FALSE(lost);
  EXPECT_EQ(lost.error().code, Code::kUnavailable) << lost.error().toString();
  EXPECT_EQ(onIo<std::vector<Code>>([&] { return answered_; }),
            (std::vector<Code>{Code::kInternal, Code::kUnavailable}));
  // A closed next connection answers at once.
  auto closed = call(c, "Echo", "x");
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().code, Code::kUnavailable);
}

TEST_F(RouteTest, ACallerThatLeavesBeforeTheAnswerLeavesTheRelayWorking) {
  setMode(Peer::Mode::kHold);
  {
    auto c = connect();
    ASSERT_TRUE(c);
    io_.run([&]() -> awaitable<void> {
      for (int i = 0; i < 5; ++i) {
        asio::co_spawn(io_.executor(), c->call("test.Remote", "Wait", "", Client::noOptions()),
                       asio::detached);
      }
      co_return;
    });
    while (onIo<size_t>([&] { return peer_.held.size(); }) < 5) std::this_thread::sleep_for(10ms);
    io_.run([&]() -> awaitable<void> {
      c->close();
      co_return;
    });
  }
  while (relay_.connectionCount() > 0) std::this_thread::sleep_for(10ms);
  io_.run([&]() -> awaitable<void> {
    peer_.answerHeld();  // answers for a caller that is gone
    peer_.mode = Peer::Mode::kEcho;
    co_return;
  });
  auto again = connect();
  ASSERT_TRUE(again);
  auto r = call(again, "Echo", "still here");
  ASSERT_TRUE(r) << r.error().toString();
  EXPECT_EQ(*r, "still here");
}

}  // namespace
}  // namespace pp::ttrpc
