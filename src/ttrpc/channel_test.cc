// FrameChannel's writes: on a quiet channel a frame is on the wire when send returns; on a busy
// one the frames queued in a turn go out together; and a peer that stops reading (a full socket,
// plain or TLS) loses no frame and reorders none, whatever is queued while the channel waits for
// it.
#include "ttrpc/channel.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "net/tls.h"
#include "ttrpc/io_thread.h"
#include "ttrpc/listener.h"
#include "ttrpc/stream.h"

namespace pp::ttrpc {
namespace {

using asio::awaitable;
using namespace std::chrono_literals;

// Reads and counts the bytes the peer has right now, without waiting.
size_t drain(int fd) {
  size_t total = 0;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0;) total += n;
  return total;
}

TEST(FrameChannelWriteTest, AQuietChannelWritesAtOnceABusyOneOncePerTurn) {
  IoThread io;
  asio::local::stream_protocol::socket ours(io.executor()), theirs(io.executor());
  asio::local::connect_pair(ours, theirs);
  auto channel = std::make_shared<FrameChannel>(wrapUnix(std::move(ours), "unix:pair"));
  const int peer = theirs.native_handle();
  const size_t frame = kHeaderSize + 4;
  // Sends `count` frames in one turn: the bytes on the wire when the last send returned, and
  // once the handlers queued behind them have run.
  auto turn = [&](int count) {
    return io.run([&]() -> awaitable<std::pair<size_t, size_t>> {
      for (int i = 0; i < count; ++i) channel->send(1, MessageType::kRequest, 0, "abcd");
      const size_t now = drain(peer);  // nothing has run on the executor since
      co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
      co_return std::pair{now, drain(peer)};
    });
  };
  EXPECT_EQ(turn(5), std::pair(frame, 4 * frame)) << "quiet: the first frame goes at once";
  EXPECT_EQ(turn(3), std::pair(size_t{0}, 3 * frame)) << "busy: the turn's frames go together";
  EXPECT_EQ(turn(1), std::pair(size_t{0}, frame)) << "still busy from the turn before";
  EXPECT_EQ(turn(1), std::pair(frame, size_t{0})) << "quiet again";
  io.run([&]() -> awaitable<void> {
    channel->close();
    co_return;
  });
}

std::string bodyOf(size_t i) {
  // Every fourth frame spans many socket buffers' worth; the others are small.
  const size_t size = i % 4 == 0 ? 256 * 1024 + i : 1 + i * 37;
  std::string b(size, '\0');
  for (size_t j = 0; j < size; ++j) b[j] = static_cast<char>((j * 7 + i) & 0xff);
  return b;
}

// Queues `n` frames on `writer` (some in one turn, some in later ones, most while the stream is
// full because nothing reads yet), then reads them all from `reader` and checks each one.
void sendWhileNobodyReadsThenCheck(IoThread& io, std::shared_ptr<FrameChannel> writer,
                                   std::shared_ptr<FrameChannel> reader) {
  constexpr size_t n = 96;  // ~6 MiB: more than a unix or loopback TCP socket buffers
  bool queued = io.run([&]() -> awaitable<bool> {
    auto ex = co_await asio::this_coro::executor;
    for (size_t i = 0; i < n; ++i) {
      if (!writer->send(static_cast<uint32_t>(2 * i + 1), MessageType::kRequest, 0, bodyOf(i)))
        co_return false;
      if (i % 8 == 7) co_await asio::post(ex, asio::use_awaitable);  // a later turn
    }
    co_return true;
  });
  ASSERT_TRUE(queued) << "the channel closed while frames were queued";
  std::atomic<size_t> good{0};
  std::atomic<bool> done{false};
  std::string problem;
  asio::co_spawn(
      io.executor(),
      [&]() -> awaitable<void> {
        for (size_t i = 0; i < n; ++i) {
          auto f = co_await reader->readFrame();
          if (!f) {
            problem = "frame " + std::to_string(i) + ": " + f.error().message;
            break;
          }
          if (f->header.streamId != 2 * i + 1 || f->body != bodyOf(i)) {
            problem = "frame " + std::to_string(i) + " is stream " +
                      std::to_string(f->header.streamId) + " with " +
                      std::to_string(f->body.size()) + " bytes";
            break;
          }
          ++good;
        }
        done = true;
      },
      asio::detached);
  for (auto until = std::chrono::steady_clock::now() + 30s;
       !done && std::chrono::steady_clock::now() < until;)
    std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(done) << "read " << good << " of " << n << " frames";
  EXPECT_EQ(good, n) << problem;
  EXPECT_FALSE(io.run([&]() -> awaitable<bool> { co_return writer->closed(); }));
  io.run([&]() -> awaitable<void> {
    writer->close();
    reader->close();
    co_return;
  });
}

TEST(FrameChannelWriteTest, AFullUnixSocketLosesAndReordersNoFrame) {
  IoThread io;
  asio::local::stream_protocol::socket ours(io.executor()), theirs(io.executor());
  asio::local::connect_pair(ours, theirs);
  auto writer = std::make_shared<FrameChannel>(wrapUnix(std::move(ours), "unix:writer"));
  auto reader = std::make_shared<FrameChannel>(wrapUnix(std::move(theirs), "unix:reader"));
  sendWhileNobodyReadsThenCheck(io, writer, reader);
}

TEST(FrameChannelWriteTest, AFullTlsConnectionLosesAndReordersNoFrame) {
  auto ca = net::CertificateAuthority::create(net::kCaOrganization, "test-ca");
  ASSERT_TRUE(ca);
  auto server = ca->issueServer("podvm-test");
  auto client = ca->issueClient(net::kClientOrganization, "adaptor");
  ASSERT_TRUE(server && client);
  auto serverTls = net::makeServerContext(
      {.certPem = server->certPem, .keyPem = server->keyPem, .clientCaPem = ca->certPem()});
  auto clientTls =
      net::makeClientContext({client->certPem, client->keyPem, ca->certPem(), "", false});
  ASSERT_TRUE(serverTls && clientTls);

  IoThread io;
  std::shared_ptr<FrameChannel> accepted;
  auto listener = io.run([&]() -> awaitable<Result<std::unique_ptr<Listener>>> {
    co_return listenTcp(io.executor(), "127.0.0.1", 0, *serverTls,
                        [&](std::unique_ptr<ByteStream> s) {
                          accepted = std::make_shared<FrameChannel>(std::move(s));
                        });
  });
  ASSERT_TRUE(listener) << listener.error().toString();
  auto stream = io.run([&]() -> awaitable<Result<std::unique_ptr<ByteStream>>> {
    TcpTarget target{.host = "127.0.0.1",
                     .port = (*listener)->port(),
                     .tls = *clientTls,
                     .serverName = "podvm-test"};
    co_return co_await connectTcp(io.executor(), target);
  });
  ASSERT_TRUE(stream) << stream.error().toString();
  auto writer = std::make_shared<FrameChannel>(std::move(*stream));
  auto ready = [&] { return io.run([&]() -> awaitable<bool> { co_return accepted != nullptr; }); };
  for (auto until = std::chrono::steady_clock::now() + 10s;
       !ready() && std::chrono::steady_clock::now() < until;)
    std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(ready()) << "the server side of the handshake did not finish";
  sendWhileNobodyReadsThenCheck(io, writer, accepted);
  io.run([&]() -> awaitable<void> {
    (*listener)->close();
    co_return;
  });
}

}  // namespace
}  // namespace pp::ttrpc
