// Interoperability with the reference Go ttrpc implementation (containerd/ttrpc from Debian):
// the Go client against our server, and our client against the Go server.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <google/protobuf/empty.pb.h>
#include <google/protobuf/wrappers.pb.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "peer_services.h"
#include "ttrpc/client.h"
#include "ttrpc/io_thread.h"
#include "ttrpc/listener.h"

#ifndef PP_GO_PEER
#error "PP_GO_PEER must name the Go peer binary"
#endif

namespace pp {
namespace {

using namespace std::chrono_literals;
using asio::awaitable;
namespace gp = google::protobuf;

std::string socketPath(const char* tag) { return "/tmp/goi-" + std::to_string(::getpid()) + "-" + tag + ".sock"; }

TEST(GoInteropTest, GoClientAgainstOurServer) {
  ttrpc::IoThread io;
  ttrpc::Server server;
  interop::registerPeerServices(server);
  std::string path = socketPath("ours");
  auto l = ttrpc::listenUnix(io.executor(), path, [&](std::unique_ptr<ttrpc::ByteStream> s) {
    server.serveConnection(std::move(s));
  });
  ASSERT_TRUE(l) << l.error().message;
  FILE* p = ::popen((std::string(PP_GO_PEER) + " client " + path).c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::map<std::string, nlohmann::json> checks;
  char line[4096];
  while (std::fgets(line, sizeof line, p)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object()) checks[j.value("check", "")] = j;
  }
  int rc = ::pclose(p);
  EXPECT_EQ(rc, 0);
  for (const char* name : {"echo", "error-code", "deadline", "metadata", "unknown-service", "unknown-method",
                           "health", "concurrent-128"}) {
    ASSERT_TRUE(checks.contains(name)) << "missing check " << name;
    EXPECT_TRUE(checks[name].value("ok", false)) << name << ": " << checks[name].dump();
  }
  l->reset();
  server.shutdown();
  std::filesystem::remove(path);
}

class GoServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = socketPath("go");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl(PP_GO_PEER, PP_GO_PEER, "server", path_.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ASSERT_GT(pid_, 0);
    for (int i = 0; i < 100 && !std::filesystem::exists(path_); ++i) std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(std::filesystem::exists(path_)) << "Go server did not start";
    client_ = io_.run([&]() -> awaitable<std::shared_ptr<ttrpc::Client>> {
      auto s = co_await ttrpc::connectUnix(io_.executor(), path_);
      if (!s) co_return nullptr;
      co_return ttrpc::Client::create(std::move(*s));
    });
    ASSERT_TRUE(client_);
  }
  void TearDown() override {
    if (client_) io_.run([&]() -> awaitable<void> { client_->close(); co_return; });
    client_.reset();
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove(path_);
  }
  Result<std::string> call(const std::string& svc, const std::string& method, const std::string& payload,
                           const ttrpc::CallOptions& o) {
    return io_.run([&]() -> awaitable<Result<std::string>> { co_return co_await client_->call(svc, method, payload, o); });
  }

  ttrpc::IoThread io_;
  std::string path_;
  pid_t pid_ = -1;
  std::shared_ptr<ttrpc::Client> client_;
};

TEST_F(GoServerTest, UnaryCallsErrorsAndUnknownMethods) {
  gp::BytesValue in;
  in.set_value("hello from c++");
  auto r = call("interop.Echo", "Echo", in.SerializeAsString(), ttrpc::Client::noOptions());
  ASSERT_TRUE(r) << r.error().toString();
  gp::BytesValue out;
  ASSERT_TRUE(out.ParseFromString(*r));
  EXPECT_EQ(out.value(), "hello from c++");

  gp::Int32Value code;
  code.set_value(7);
  auto f = call("interop.Echo", "Fail", code.SerializeAsString(), ttrpc::Client::noOptions());
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, Code::kPermissionDenied);
  EXPECT_EQ(f.error().message, "failed with code 7");

  auto us = call("no.Such", "Thing", "", ttrpc::Client::noOptions());
  ASSERT_FALSE(us);
  EXPECT_EQ(us.error().code, Code::kUnimplemented);
  EXPECT_EQ(us.error().message, "service no.Such");
  auto um = call("interop.Echo", "Nope", "", ttrpc::Client::noOptions());
  ASSERT_FALSE(um);
  EXPECT_EQ(um.error().code, Code::kUnimplemented);
  EXPECT_EQ(um.error().message, "method Nope");

  // Empty result: the Go server sends a zero-length body without a status.
  auto h = call("grpc.Health", "Check", "", ttrpc::Client::noOptions());
  ASSERT_TRUE(h);
  EXPECT_EQ(*h, std::string("\x08\x01", 2));
}

TEST_F(GoServerTest, DeadlineAndMetadataReachTheGoHandler) {
  ttrpc::CallOptions o;
  o.deadline = std::chrono::steady_clock::now() + 5s;
  o.metadata = {{"traceparent", "00-c-01"}, {"k", "v1"}, {"k", "v2"}};
  auto m = call("interop.Echo", "Meta", "", o);
  ASSERT_TRUE(m) << m.error().toString();
  gp::StringValue s;
  ASSERT_TRUE(s.ParseFromString(*m));
  EXPECT_EQ(s.value(), "k=v1;k=v2;traceparent=00-c-01;deadline");

  // The Go server turns timeout_nano into its context deadline and answers DEADLINE_EXCEEDED;
  // whichever side notices first, the call fails fast.
  gp::Int32Value ms;
  ms.set_value(3000);
  ttrpc::CallOptions shortDeadline;
  shortDeadline.deadline = std::chrono::steady_clock::now() + 150ms;
  auto t0 = std::chrono::steady_clock::now();
  auto d = call("interop.Echo", "Sleep", ms.SerializeAsString(), shortDeadline);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, Code::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  // Without a client deadline no timeout_nano is sent and the Go handler sees none.
  auto noMeta = call("interop.Echo", "Meta", "", ttrpc::Client::noOptions());
  ASSERT_TRUE(noMeta);
  ASSERT_TRUE(s.ParseFromString(*noMeta));
  EXPECT_EQ(s.value(), "nodeadline");
}

TEST_F(GoServerTest, ManyConcurrentCalls) {
  int good = io_.run([&]() -> awaitable<int> {
    auto ex = co_await asio::this_coro::executor;
    int ok = 0, left = 256;
    asio::steady_timer done(ex, asio::steady_timer::time_point::max());
    for (int i = 0; i < 256; ++i) {
      asio::co_spawn(ex, [&, i]() -> awaitable<void> {
        gp::BytesValue in;
        in.set_value(std::to_string(i));
        std::string payload = in.SerializeAsString();
        auto r = co_await client_->call("interop.Echo", "Echo", payload);
        gp::BytesValue out;
        if (r && out.ParseFromString(*r) && out.value() == std::to_string(i)) ++ok;
        if (--left == 0) done.cancel();
      }, asio::detached);
    }
    co_await done.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    co_return ok;
  });
  EXPECT_EQ(good, 256);
}

}  // namespace
}  // namespace pp
