// What one connection can make the server hold: in-flight caps that push back instead of
// dropping, handlers cancelled when their client goes, the idle timeout, read buffers that grow
// with the bytes received, and deadlines from any timeout_nano.
#include <gtest/gtest.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <thread>

#include "ttrpc/channel.h"
#include "ttrpc/client.h"
#include "ttrpc/frame.h"
#include "ttrpc/io_thread.h"
#include "ttrpc/listener.h"
#include "ttrpc/request.pb.h"
#include "ttrpc/server.h"

namespace pp::ttrpc {
namespace {

using namespace std::chrono_literals;
using asio::awaitable;
constexpr auto kUse = asio::experimental::as_tuple(asio::use_awaitable);

// Polls `done` until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// Counts the handler frames alive: they hold the request payloads.
struct Alive {
  explicit Alive(std::atomic<int>& n) : n(n) { ++n; }
  ~Alive() { --n; }
  std::atomic<int>& n;
};

class ServerLimitsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    listener_.reset();
    if (server_) {
      release(1 << 20);
      server_->shutdown();
      EXPECT_TRUE(eventually([&] { return alive_ == 0; }));
      io_.run([&]() -> awaitable<void> {
        gate_.reset();
        co_return;
      });
    }
    io_.stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void start(ServerOptions options) {
    dir_ = std::filesystem::temp_directory_path() / ("ttrpc-limits-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "s.sock").string();
    server_ = std::make_unique<Server>(options);
    // Waits for a permit (release()); answers with the payload's size.
    server_->addMethod("test.Gate", "Hold",
                       [this](const CallContext&, std::string p) -> awaitable<Result<std::string>> {
                         Alive alive(alive_);
                         ++started_;
                         while (permits_ == 0) co_await gate_->async_wait(kUse);
                         --permits_;
                         co_return std::to_string(p.size());
                       });
    server_->addMethod("test.Gate", "Sleep",
                       [](const CallContext&, std::string p) -> awaitable<Result<std::string>> {
                         asio::steady_timer t(co_await asio::this_coro::executor,
                                              std::chrono::milliseconds(std::stoi(p)));
                         co_await t.async_wait(kUse);
                         co_return "slept " + p;
                       });
    gate_ =
        std::make_unique<asio::steady_timer>(io_.executor(), asio::steady_timer::time_point::max());
    auto l = listenUnix(io_.executor(), path_, [this](std::unique_ptr<ByteStream> s) {
      server_->serveConnection(std::move(s));
    });
    ASSERT_TRUE(l) << l.error().toString();
    listener_ = std::move(*l);
  }

  std::shared_ptr<Client> connect() {
    return io_.run([this]() -> awaitable<std::shared_ptr<Client>> {
      auto s = co_await connectUnix(io_.executor(), path_);
      if (!s) co_return nullptr;
      co_return Client::create(std::move(*s));
    });
  }

  // Starts `n` calls without waiting for them; their results are counted.
  void callMany(std::shared_ptr<Client> c, int n, const std::string& method, std::string payload) {
    asio::post(io_.executor(), [this, c, n, method, payload] {
      for (int i = 0; i < n; ++i) {
        asio::co_spawn(
            io_.executor(),
            [this, c, method, payload]() -> awaitable<void> {
              auto r = co_await c->call("test.Gate", method, payload);
              ++(r ? ok_ : failed_);
            },
            asio::detached);
      }
    });
  }

  void release(int n) {
    asio::post(io_.executor(), [this, n] {
      permits_ += n;
      gate_->cancel();
    });
  }

  // Declared first: handler frames that count themselves may be destroyed with the io_context.
  std::atomic<int> started_{0};
  std::atomic<int> alive_{0};
  std::atomic<int> ok_{0};
  std::atomic<int> failed_{0};
  IoThread io_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Listener> listener_;
  std::unique_ptr<asio::steady_timer> gate_;
  std::filesystem::path dir_;
  std::string path_;
  int permits_ = 0;  // io thread only
};

TEST_F(ServerLimitsTest, InFlightRequestsAreCappedByBackpressure) {
  start(ServerOptions{.maxInFlightRequests = 4});
  auto c = connect();
  ASSERT_TRUE(c);
  callMany(c, 10, "Hold", "x");
  ASSERT_TRUE(eventually([&] { return started_ >= 4; }));
  // The ten requests arrived together; without the cap all would have started at once.
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(started_, 4);
  // Nothing was dropped: as permits come, the rest are read and answered.
  release(10);
  ASSERT_TRUE(eventually([&] { return ok_ + failed_ == 10; }));
  EXPECT_EQ(ok_, 10);
  EXPECT_EQ(started_, 10);
  EXPECT_FALSE(io_.run([&]() -> awaitable<bool> { co_return c->closed(); }));
}

TEST_F(ServerLimitsTest, InFlightBytesAreCappedByBackpressure) {
  start(ServerOptions{.maxInFlightBytes = 1u << 20});
  auto c = connect();
  ASSERT_TRUE(c);
  // 300 KiB each: three stay under 1 MiB, the fourth reaches it and reading stops.
  callMany(c, 8, "Hold", std::string(300 * 1024, 'p'));
  ASSERT_TRUE(eventually([&] { return started_ >= 4; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(started_, 4);
  release(8);
  ASSERT_TRUE(eventually([&] { return ok_ + failed_ == 8; }));
  EXPECT_EQ(ok_, 8);
}

TEST_F(ServerLimitsTest, HandlersAreCancelledWhenTheClientGoes) {
  start(ServerOptions{});
  auto c = connect();
  ASSERT_TRUE(c);
  callMany(c, 5, "Hold", std::string(1u << 20, 'p'));
  ASSERT_TRUE(eventually([&] { return alive_ == 5; }));
  io_.run([&]() -> awaitable<void> {
    c->close();
    co_return;
  });
  // The handlers (and the megabytes they hold) are gone without ever getting a permit.
  EXPECT_TRUE(eventually([&] { return alive_ == 0; })) << alive_ << " handlers still running";
  EXPECT_TRUE(eventually([&] { return server_->connectionCount() == 0; }));
}

TEST_F(ServerLimitsTest, WithoutCancelOnDisconnectHandlersFinish) {
  start(ServerOptions{.cancelOnDisconnect = false});
  auto c = connect();
  ASSERT_TRUE(c);
  callMany(c, 2, "Hold", "x");
  ASSERT_TRUE(eventually([&] { return alive_ == 2; }));
  io_.run([&]() -> awaitable<void> {
    c->close();
    co_return;
  });
  ASSERT_TRUE(eventually([&] { return server_->connectionCount() == 0; }));
  EXPECT_EQ(alive_, 2);
  release(2);
  EXPECT_TRUE(eventually([&] { return alive_ == 0; }));
}

TEST_F(ServerLimitsTest, IdleConnectionsAreClosedBusyOnesAreNot) {
  start(ServerOptions{.idleTimeout = 200ms});
  auto c = connect();
  ASSERT_TRUE(c);
  // In flight for three idle periods: not idle.
  auto r = io_.run([&] { return c->call("test.Gate", "Sleep", "600"); });
  ASSERT_TRUE(r) << r.error().toString();
  EXPECT_EQ(*r, "slept 600");
  EXPECT_TRUE(
      eventually([&] { return io_.run([&]() -> awaitable<bool> { co_return c->closed(); }); }, 3s));
}

TEST_F(ServerLimitsTest, NoIdleTimeoutByDefault) {
  EXPECT_EQ(ServerOptions{}.idleTimeout.count(), 0);
  EXPECT_EQ(ServerOptions{}.maxInFlightRequests, 128u);
  EXPECT_EQ(ServerOptions{}.maxInFlightBytes, 16u << 20);
}

TEST_F(ServerLimitsTest, TimeoutNanoNearInt64MaxMeansNoPracticalDeadline) {
  start(ServerOptions{});
  ::ttrpc::Request req;
  req.set_service("test.Gate");
  req.set_method("Sleep");
  req.set_payload("20");
  req.set_timeout_nano(std::numeric_limits<int64_t>::max());
  std::string frame = encodeFrame(1, MessageType::kRequest, 0, req.SerializeAsString());
  auto body = io_.run([&]() -> awaitable<std::string> {
    asio::local::stream_protocol::socket sock(io_.executor());
    co_await sock.async_connect(asio::local::stream_protocol::endpoint(path_), asio::use_awaitable);
    co_await asio::async_write(sock, asio::buffer(frame), asio::use_awaitable);
    uint8_t hdr[kHeaderSize];
    co_await asio::async_read(sock, asio::buffer(hdr), asio::use_awaitable);
    std::string b(decodeHeader(hdr).length, '\0');
    co_await asio::async_read(sock, asio::buffer(b), asio::use_awaitable);
    co_return b;
  });
  ::ttrpc::Response resp;
  ASSERT_TRUE(resp.ParseFromString(body));
  EXPECT_EQ(resp.status().code(), 0) << resp.status().message();
  EXPECT_EQ(resp.payload(), "slept 20");
}

// A header announcing a 4 MiB body costs what has arrived, not 4 MiB.
TEST(FrameChannelTest, ReadBufferGrowsWithTheBytesThatArrive) {
  IoThread io;
  asio::local::stream_protocol::socket ours(io.executor()), theirs(io.executor());
  asio::local::connect_pair(ours, theirs);
  auto channel = std::make_shared<FrameChannel>(wrapUnix(std::move(ours), "unix:pair"));
  std::atomic<bool> got{false};
  Frame frame;
  asio::co_spawn(
      io.executor(),
      [&]() -> awaitable<void> {
        auto f = co_await channel->readFrame();
        if (f) frame = std::move(*f);
        got = true;
      },
      asio::detached);

  const std::string body(kMaxMessageLength, 'b');
  const std::string bytes = encodeFrame(1, MessageType::kRequest, 0, body);
  const size_t first = kHeaderSize + 1000;
  io.run([&]() -> awaitable<void> {
    co_await asio::async_write(theirs, asio::buffer(bytes.data(), first), asio::use_awaitable);
  });
  auto buffered = [&] {
    return io.run([&]() -> awaitable<size_t> { co_return channel->bufferedBytes(); });
  };
  ASSERT_TRUE(eventually([&] { return buffered() == 1000; }));
  size_t capacity = io.run([&]() -> awaitable<size_t> { co_return channel->readBufferCapacity(); });
  EXPECT_LT(capacity, 64u * 1024) << "allocated from the header alone";

  io.run([&]() -> awaitable<void> {
    co_await asio::async_write(theirs, asio::buffer(bytes.data() + first, bytes.size() - first),
                               asio::use_awaitable);
  });
  ASSERT_TRUE(eventually([&] { return got.load(); }));
  EXPECT_EQ(frame.header.length, kMaxMessageLength);
  EXPECT_TRUE(frame.body == body);
  // Drained, the channel goes back to a small buffer: an idle connection (two per running pod
  // in the adaptor) does not keep the largest frame it ever read.
  capacity = io.run([&]() -> awaitable<size_t> { co_return channel->readBufferCapacity(); });
  EXPECT_LE(capacity, 4u * 1024) << "the 4 MiB frame's buffer was kept";
  io.run([&]() -> awaitable<void> {
    channel->close();
    co_return;
  });
}

}  // namespace
}  // namespace pp::ttrpc
