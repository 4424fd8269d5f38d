#include "adaptor/probe.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <asio/read.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/metrics.h"
#include "base/testing/prometheus_judge.h"
#include "ttrpc/io_thread.h"
#include "ttrpc/listener.h"

namespace pp::adaptor {
namespace {

// One request; the answer up to the end of its body (Content-Length).
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
    size_t head = out.find("\r\n\r\n");
    size_t cl = out.find("Content-Length: ");
    if (head != std::string::npos && cl != std::string::npos &&
        out.size() >= head + 4 + std::stoul(out.substr(cl + 16)))
      break;
  }
  return out;
}

class StartupProbeTest : public ::testing::Test {
 protected:
  void TearDown() override { std::filesystem::remove(sock_); }
  std::string sock_ = "/tmp/probe-" + std::to_string(::getpid()) + ".sock";
};

TEST_F(StartupProbeTest, FailsUntilTheHypervisorSocketAcceptsThenSucceeds) {
  auto probe = StartupProbe::start(0, sock_);
  ASSERT_TRUE(probe) << probe.error().message;
  uint16_t port = (*probe)->port();
  const std::string notReady = get(port, "GET /startup HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(notReady.find("HTTP/1.1 500"), std::string::npos);
  // No details in the answer: the reason (here the socket path) stays in the log.
  EXPECT_EQ(notReady.find(sock_), std::string::npos) << notReady;
  EXPECT_NE(notReady.find("\r\n\r\nnot ready\n"), std::string::npos) << notReady;
  EXPECT_NE((*probe)->lastNotReadyReason().find(sock_), std::string::npos);

  ttrpc::IoThread io;
  auto l = ttrpc::listenUnix(io.executor(), sock_, [](std::unique_ptr<ttrpc::ByteStream>) {});
  ASSERT_TRUE(l);
  EXPECT_NE(get(port, "GET /startup HTTP/1.1\r\nHost: x\r\n\r\n").find("HTTP/1.1 200"),
            std::string::npos);
  EXPECT_EQ((*probe)->lastNotReadyReason(), "");
  // Once it succeeded it stays successful, as upstream's probe.
  l->reset();
  std::filesystem::remove(sock_);
  EXPECT_NE(get(port, "GET /startup HTTP/1.1\r\nHost: x\r\n\r\n").find("HTTP/1.1 200"),
            std::string::npos);
  EXPECT_NE(get(port, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n").find("HTTP/1.1 404"),
            std::string::npos);
  EXPECT_NE(get(port, "POST /startup HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
                .find("HTTP/1.1 405"),
            std::string::npos);
  (*probe)->stop();
}

TEST_F(StartupProbeTest, MetricsAnswerInPrometheusTextFormat) {
  auto probe = StartupProbe::start(0, sock_);
  ASSERT_TRUE(probe) << probe.error().message;
  metrics::global().counter("peerpods_probe_test_total", "A probe test's counter.").with().inc(7);
  std::string answer = get((*probe)->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_NE(answer.find("HTTP/1.1 200"), std::string::npos) << answer;
  EXPECT_NE(answer.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << answer;
  auto body = answer.substr(answer.find("\r\n\r\n") + 4);
  auto parsed = pp::testing::parsePrometheusText(body);
  ASSERT_TRUE(parsed.error.empty()) << parsed.error;
  EXPECT_EQ(parsed.value("peerpods_probe_test_total"), 7);
  EXPECT_NE(get((*probe)->port(), "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
                .find("HTTP/1.1 405"),
            std::string::npos);
}

// The local address of the listening TCP socket on `port`, from the kernel's own table
// (/proc/net/tcp, "0100007F" = 127.0.0.1, "00000000" = any); "" when there is none.
std::string listeningAddress(uint16_t port) {
  std::ifstream tcp("/proc/net/tcp");
  std::string line;
  std::getline(tcp, line);  // header
  char want[8];
  std::snprintf(want, sizeof want, "%04X", port);
  while (std::getline(tcp, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    if (state == "0A" && local.size() == 13 && local.substr(9) == want) return local.substr(0, 8);
  }
  return "";
}

TEST_F(StartupProbeTest, ListensOnLoopbackOnly) {
  auto probe = StartupProbe::start(0, sock_);
  ASSERT_TRUE(probe) << probe.error().message;
  EXPECT_EQ(listeningAddress((*probe)->port()), "0100007F");
  EXPECT_EQ((*probe)->baseUrl(), "http://127.0.0.1:" + std::to_string((*probe)->port()));
}

TEST_F(StartupProbeTest, PodsNotReadyKeepsItFailingWithTheReasonLogged) {
  ttrpc::IoThread io;
  auto l = ttrpc::listenUnix(io.executor(), sock_, [](std::unique_ptr<ttrpc::ByteStream>) {});
  ASSERT_TRUE(l);
  std::atomic<bool> podsReady{false};
  auto probe = StartupProbe::start(
      0, sock_, [&]() -> std::string { return podsReady ? "" : "pod team/web is not Ready"; });
  ASSERT_TRUE(probe) << probe.error().message;
  EXPECT_NE(get((*probe)->port(), "GET /startup HTTP/1.1\r\nHost: x\r\n\r\n").find("HTTP/1.1 500"),
            std::string::npos);
  EXPECT_EQ((*probe)->lastNotReadyReason(), "pod team/web is not Ready");
  podsReady = true;
  EXPECT_NE(get((*probe)->port(), "GET /startup HTTP/1.1\r\nHost: x\r\n\r\n").find("HTTP/1.1 200"),
            std::string::npos);
  l->reset();
}

}  // namespace
}  // namespace pp::adaptor
