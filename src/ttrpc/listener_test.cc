// The accept loop out of file descriptors: it backs off and logs a line a second instead of
// spinning, and accepts again once descriptors are free.
#include "ttrpc/listener.h"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <string>
#include <vector>

#include "base/testing/low_fd_child.h"
#include "net/raw_socket_test_util.h"

namespace pp::ttrpc {
namespace {

using namespace std::chrono_literals;

constexpr int kClients = 40;

// The listening process: holds every connection it accepts for a second (EMFILE once four
// are held), then lets them go and must accept the rest. Returns the exit code.
int listeningChild(testing::LowFdChild& child) {
  asio::io_context ctx;
  std::vector<std::unique_ptr<ByteStream>> held;
  bool hold = true;
  int accepted = 0;
  auto l =
      listenTcp(ctx.get_executor(), "127.0.0.1", 0, nullptr, [&](std::unique_ptr<ByteStream> s) {
        ++accepted;
        if (hold) held.push_back(std::move(s));
      });
  if (!l) return 11;
  ctx.poll();  // starts the accept loop
  // Room for four more descriptors: the fifth connection meets EMFILE.
  if (!testing::LowFdChild::leaveFreeDescriptors(4)) return 12;
  if (!child.sendPort((*l)->port())) return 13;
  if (!child.awaitParent()) return 14;  // every client is connected
  ctx.run_for(1s);
  held.clear();
  hold = false;
  for (int i = 0; i < 300 && accepted < kClients; ++i) ctx.run_for(10ms);
  return accepted == kClients ? 0 : 20;
}

TEST(ListenerTest, AcceptBacksOffWhenOutOfDescriptors) {
#if defined(PP_TESTING_ASAN)
  // See PP_TESTING_ASAN: the plain build runs it.
  GTEST_SKIP() << "not meaningful under the sanitizers: they need file descriptors themselves";
#endif
  testing::LowFdChild child("ttrpc-emfile", listeningChild);
  ASSERT_TRUE(child.valid());
  uint16_t port = child.port();
  ASSERT_NE(port, 0);
  std::vector<net::testing::RawSocket> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(net::testing::RawSocket::connectLoopback(port));
    ASSERT_TRUE(clients.back().valid());
  }
  ASSERT_TRUE(child.tellChild());
  int code = child.wait();
  std::string text;
  int acceptLines = child.logLinesWith("accept on", &text);
  EXPECT_EQ(code, 0) << "not every client was accepted once descriptors were free\n" << text;
  // The limit was hit (the test tested something) and logged about once a second: a loop
  // retrying at once writes tens of thousands of lines here.
  EXPECT_GE(acceptLines, 1) << text;
  EXPECT_LE(acceptLines, 4) << text;
  EXPECT_NE(text.find("Too many open files"), std::string::npos) << text;
}

}  // namespace
}  // namespace pp::ttrpc
