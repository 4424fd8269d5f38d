// Interoperability with the reference Go ttrpc implementation (containerd/ttrpc 1.1.1 from
// Debian): the Go client against our server, our client against the Go server, and the Go client
// through our frame-passing relay to the Go server. Unary
// calls, status codes and messages, deadlines enforced by either side, metadata, unknown
// services and methods, and many calls in flight on one connection.
#include <google/protobuf/wrappers.pb.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "peer_services.h"
#include "ttrpc/client.h"
#include "ttrpc/envelope.h"
#include "ttrpc/frame.h"
#include "ttrpc/io_thread.h"
#include "ttrpc/listener.h"

#if !defined(PP_GO_SERVER) || !defined(PP_GO_CLIENT)
#error "PP_GO_SERVER and PP_GO_CLIENT must name the Go programs"
#endif

namespace pp {
namespace {

using namespace std::chrono_literals;
using asio::awaitable;
using Clock = std::chrono::steady_clock;
namespace gp = google::protobuf;

std::string socketPath(const char* tag) {
  return "/tmp/goi-" + std::to_string(::getpid()) + "-" + tag + ".sock";
}

std::string int32Value(int32_t v) {
  gp::Int32Value m;
  m.set_value(v);
  return m.SerializeAsString();
}

std::string bytesValue(std::string v) {
  gp::BytesValue m;
  m.set_value(std::move(v));
  return m.SerializeAsString();
}

// Runs the Go client's scenario against the server at `path` and checks every line it printed.
void expectScenarioPasses(const std::string& path) {
  FILE* p = ::popen((std::string(PP_GO_CLIENT) + " " + path).c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::map<std::string, nlohmann::json> checks;
  char line[8192];
  while (std::fgets(line, sizeof line, p)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_TRUE(j.is_object()) << "not a JSON line: " << line;
    if (j.is_object()) checks[j.value("check", "")] = j;
  }
  EXPECT_EQ(::pclose(p), 0);

  const std::set<std::string> expected = {"echo",
                                          "echo-empty",
                                          "echo-1mib",
                                          "error-Canceled",
                                          "error-InvalidArgument",
                                          "error-NotFound",
                                          "error-PermissionDenied",
                                          "error-FailedPrecondition",
                                          "error-Internal",
                                          "error-Unavailable",
                                          "client-deadline",
                                          "server-deadline",
                                          "metadata",
                                          "no-metadata-no-deadline",
                                          "unknown-service",
                                          "unknown-method",
                                          "health",
                                          "concurrent-echo-256",
                                          "in-flight-128",
                                          "echo-after"};
  for (const auto& name : expected) EXPECT_TRUE(checks.contains(name)) << "missing check " << name;
  for (const auto& [name, j] : checks) {
    EXPECT_TRUE(expected.contains(name)) << "unexpected check " << name;
    EXPECT_TRUE(j.value("ok", false)) << name << ": " << j.dump();
  }
}

TEST(GoClientTest, ScenarioAgainstOurServer) {
  ttrpc::IoThread io;
  ttrpc::Server server;
  interop::registerPeerServices(server);
  std::string path = socketPath("ours");
  auto l = ttrpc::listenUnix(io.executor(), path, [&](std::unique_ptr<ttrpc::ByteStream> s) {
    server.serveConnection(std::move(s));
  });
  ASSERT_TRUE(l) << l.error().message;
  expectScenarioPasses(path);
  l->reset();
  server.shutdown();
  std::filesystem::remove(path);
}

class GoServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = socketPath("go");
    std::filesystem::remove(path_);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl(PP_GO_SERVER, PP_GO_SERVER, path_.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ASSERT_GT(pid_, 0);
    for (int i = 0; i < 200 && !std::filesystem::exists(path_); ++i)
      std::this_thread::sleep_for(25ms);
    ASSERT_TRUE(std::filesystem::exists(path_)) << "the Go server did not start";
    client_ = io_.run([&]() -> awaitable<std::shared_ptr<ttrpc::Client>> {
      auto s = co_await ttrpc::connectUnix(io_.executor(), path_);
      if (!s) co_return nullptr;
      co_return ttrpc::Client::create(std::move(*s));
    });
    ASSERT_TRUE(client_);
  }

  void TearDown() override {
    if (client_)
      io_.run([&]() -> awaitable<void> {
        client_->close();
        co_return;
      });
    client_.reset();
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "Go server status " << status;
    }
    std::filesystem::remove(path_);
  }

  Result<std::string> call(const std::string& svc, const std::string& method,
                           const std::string& payload,
                           const ttrpc::CallOptions& o = ttrpc::Client::noOptions()) {
    return io_.run([&]() -> awaitable<Result<std::string>> {
      co_return co_await client_->call(svc, method, payload, o);
    });
  }

  // Starts n calls at once on the one connection; returns how many answered `expect(i)`.
  template <typename MakePayload, typename Check>
  int concurrentCalls(int n, const std::string& method, MakePayload makePayload, Check check) {
    return io_.run([&]() -> awaitable<int> {
      auto ex = co_await asio::this_coro::executor;
      int good = 0, left = n;
      asio::steady_timer done(ex, asio::steady_timer::time_point::max());
      for (int i = 0; i < n; ++i) {
        asio::co_spawn(
            ex,
            [&, i]() -> awaitable<void> {
              std::string payload = makePayload(i);
              auto r = co_await client_->call("interop.Echo", method, payload);
              if (r && check(i, *r)) ++good;
              if (--left == 0) done.cancel();
            },
            asio::detached);
      }
      co_await done.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      co_return good;
    });
  }

  ttrpc::IoThread io_;
  std::string path_;
  pid_t pid_ = -1;
  std::shared_ptr<ttrpc::Client> client_;
};

// Control: the scenario's expectations hold for the reference server too, so a check that fails
// against ours points at our server, not at the scenario.
TEST_F(GoServerTest, GoClientScenarioAgainstGoServer) {
  expectScenarioPasses(path_);
}

// The Go client's scenario through a relay that passes every call on as frames (ttrpc::Route,
// as the adaptor's agent proxy and the forwarder do) to the Go server: errors, deadlines on
// either side, metadata, unknown names, 1 MiB messages and 256 calls at once must come out as
// they do straight from the Go server.
TEST_F(GoServerTest, GoClientScenarioThroughARelayThatPassesFramesOn) {
  ttrpc::Server relay;
  relay.setRoute(ttrpc::Route{
      .next = [&](std::string_view, std::string_view) { return client_.get(); }, .answered = {}});
  const std::string relayPath = socketPath("relay");
  auto l = ttrpc::listenUnix(io_.executor(), relayPath, [&](std::unique_ptr<ttrpc::ByteStream> s) {
    relay.serveConnection(std::move(s));
  });
  ASSERT_TRUE(l) << l.error().message;
  expectScenarioPasses(relayPath);
  io_.run([&]() -> awaitable<void> {
    l->reset();
    relay.shutdown();
    co_return;
  });
  std::filesystem::remove(relayPath);
}

TEST_F(GoServerTest, UnaryEcho) {
  for (std::string value :
       {std::string("hello from c++"), std::string(), std::string(1 << 20, 'x')}) {
    auto r = call("interop.Echo", "Echo", bytesValue(value));
    ASSERT_TRUE(r) << r.error().toString();
    gp::BytesValue out;
    ASSERT_TRUE(out.ParseFromString(*r));
    EXPECT_EQ(out.value(), value);
  }
  // The Go server answers success without a status field; the health response's bytes as sent.
  auto h = call("grpc.Health", "Check", "");
  ASSERT_TRUE(h) << h.error().toString();
  EXPECT_EQ(*h, std::string("\x08\x01", 2));
}

TEST_F(GoServerTest, StatusCodesAndMessages) {
  for (Code code :
       {Code::kCancelled, Code::kInvalidArgument, Code::kNotFound, Code::kPermissionDenied,
        Code::kFailedPrecondition, Code::kInternal, Code::kUnavailable, Code::kUnauthenticated}) {
    auto n = static_cast<int32_t>(code);
    auto f = call("interop.Echo", "Fail", int32Value(n));
    ASSERT_FALSE(f) << n;
    EXPECT_EQ(f.error().code, code);
    EXPECT_EQ(f.error().message, "failed with code " + std::to_string(n));
  }
  auto us = call("no.Such", "Thing", "");
  ASSERT_FALSE(us);
  EXPECT_EQ(us.error().code, Code::kUnimplemented);
  EXPECT_EQ(us.error().message, "service no.Such");
  auto um = call("interop.Echo", "Nope", "");
  ASSERT_FALSE(um);
  EXPECT_EQ(um.error().code, Code::kUnimplemented);
  EXPECT_EQ(um.error().message, "method Nope");
  // The connection is still good afterwards.
  EXPECT_TRUE(call("interop.Echo", "Echo", bytesValue("after")));
}

TEST_F(GoServerTest, MetadataAndDeadlineReachTheGoHandler) {
  ttrpc::CallOptions o;
  o.deadline = Clock::now() + 5s;
  o.metadata = {{"traceparent", "00-c-01"}, {"k", "v1"}, {"k", "v2"}};
  auto m = call("interop.Echo", "Meta", "", o);
  ASSERT_TRUE(m) << m.error().toString();
  gp::StringValue s;
  ASSERT_TRUE(s.ParseFromString(*m));
  EXPECT_EQ(s.value(), "k=v1;k=v2;traceparent=00-c-01;deadline");

  // Without a deadline no timeout_nano is sent and the Go handler's context has none.
  auto none = call("interop.Echo", "Meta", "");
  ASSERT_TRUE(none) << none.error().toString();
  ASSERT_TRUE(s.ParseFromString(*none));
  EXPECT_EQ(s.value(), "nodeadline");
}

TEST_F(GoServerTest, OurClientDeadlineEndsTheCall) {
  ttrpc::CallOptions o;
  o.deadline = Clock::now() + 150ms;
  auto t0 = Clock::now();
  auto d = call("interop.Echo", "Sleep", int32Value(5000), o);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, Code::kDeadlineExceeded);
  EXPECT_LT(Clock::now() - t0, 2s);
  // A late answer from the server to the abandoned stream does not disturb later calls.
  EXPECT_TRUE(call("interop.Echo", "Echo", bytesValue("next")));
}

// Only the Go server enforces the deadline here: a hand-written Request with timeout_nano and a
// client that waits as long as it takes. The Go server must answer DEADLINE_EXCEEDED.
TEST_F(GoServerTest, GoServerEnforcesTimeoutNano) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
      << std::strerror(errno);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  std::string request =
      ttrpc::encodeRequest("interop.Echo", "Sleep", int32Value(5000), 150'000'000, {});
  std::string frame = ttrpc::encodeFrame(1, ttrpc::MessageType::kRequest, 0, request);
  auto t0 = Clock::now();
  ASSERT_EQ(::write(fd, frame.data(), frame.size()), static_cast<ssize_t>(frame.size()));
  auto readExactly = [&](char* buf, size_t n) {
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::read(fd, buf + got, n - got);
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    return true;
  };
  uint8_t header[ttrpc::kHeaderSize];
  ASSERT_TRUE(readExactly(reinterpret_cast<char*>(header), sizeof header)) << "no response header";
  auto took = Clock::now() - t0;
  auto h = ttrpc::decodeHeader(header);
  EXPECT_EQ(h.streamId, 1u);
  EXPECT_EQ(h.type, static_cast<uint8_t>(ttrpc::MessageType::kResponse));
  ASSERT_LT(h.length, 4096u);
  std::string body(h.length, '\0');
  ASSERT_TRUE(readExactly(body.data(), body.size()));
  ::close(fd);

  auto r = ttrpc::decodeResponse(body);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kDeadlineExceeded);
  EXPECT_EQ(r.error().message, "context deadline exceeded");
  EXPECT_GE(took, 100ms);
  EXPECT_LT(took, 2s);
}

TEST_F(GoServerTest, ManyConcurrentEchoes) {
  int good = concurrentCalls(
      256, "Echo", [](int i) { return bytesValue("call-" + std::to_string(i)); },
      [](int i, const std::string& r) {
        gp::BytesValue out;
        return out.ParseFromString(r) && out.value() == "call-" + std::to_string(i);
      });
  EXPECT_EQ(good, 256);
}

// 128 one-second sleeps at once: with fewer than 64 in flight they would take three seconds.
TEST_F(GoServerTest, AtLeast64CallsInFlight) {
  auto t0 = Clock::now();
  int good = concurrentCalls(
      128, "Sleep", [](int) { return int32Value(1000); },
      [](int, const std::string& r) {
        gp::Int32Value out;
        return out.ParseFromString(r) && out.value() == 1000;
      });
  auto took = Clock::now() - t0;
  EXPECT_EQ(good, 128);
  EXPECT_LT(took, 2500ms);
}

}  // namespace
}  // namespace pp
