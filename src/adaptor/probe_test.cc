#include "adaptor/probe.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <asio/read.hpp>
#include <asio/write.hpp>
#include <filesystem>

#include "ttrpc/io_thread.h"
#include "ttrpc/listener.h"

namespace pp::adaptor {
namespace {

std::string get(uint16_t port, const std::string& request) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(s, asio::buffer(request));
  std::string out;
  asio::error_code ec;
  char buf[512];
  while (true) {
    size_t n = s.read_some(asio::buffer(buf), ec);
    if (ec) break;
    out.append(buf, n);
  }
  return out;
}

TEST(StartupProbeTest, FailsUntilTheHypervisorSocketAcceptsThenSucceeds) {
  ttrpc::IoThread io;
  std::string sock = "/tmp/probe-" + std::to_string(::getpid()) + ".sock";
  auto probe = io.run([&]() -> asio::awaitable<Result<std::shared_ptr<StartupProbe>>> {
    co_return StartupProbe::start(io.executor(), "127.0.0.1", 0, sock);
  });
  ASSERT_TRUE(probe) << probe.error().message;
  uint16_t port = (*probe)->port();
  const std::string notReady = get(port, "GET /startup HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(notReady.find("HTTP/1.1 500"), std::string::npos);
  // No details in the answer: the reason (here the socket path) stays in the log.
  EXPECT_EQ(notReady.find(sock), std::string::npos) << notReady;
  EXPECT_NE(notReady.find("\r\n\r\nnot ready\n"), std::string::npos) << notReady;
  EXPECT_NE((*probe)->lastNotReadyReason().find(sock), std::string::npos);
  auto l = ttrpc::listenUnix(io.executor(), sock, [](std::unique_ptr<ttrpc::ByteStream>) {});
  ASSERT_TRUE(l);
  EXPECT_NE(get(port, "GET /startup HTTP/1.1\r\nHost: x\r\n\r\n").find("HTTP/1.1 200"),
            std::string::npos);
  EXPECT_NE(get(port, "GET /other HTTP/1.1\r\n\r\n").find("HTTP/1.1 404"), std::string::npos);
  EXPECT_NE(get(port, "POST /startup HTTP/1.1\r\n\r\n").find("HTTP/1.1 405"), std::string::npos);
  (*probe)->stop();
  l->reset();
  std::filesystem::remove(sock);
}

}  // namespace
}  // namespace pp::adaptor
