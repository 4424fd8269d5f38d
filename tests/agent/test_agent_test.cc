// The stand-in agent driven through a real ttrpc client on a unix socket, as the shim (through
// the proxies) drives kata-agent.
#include "test_agent.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <chrono>
#include <filesystem>
#include <future>

#include "agent/agent.pb.h"
#include "agent/health.pb.h"
#include "ttrpc/client.h"
#include "ttrpc/io_thread.h"

namespace pp::testagent {
namespace {

using namespace std::chrono_literals;
using asio::awaitable;
constexpr char kAgent[] = "grpc.AgentService";

awaitable<Result<std::string>> callCo(std::shared_ptr<ttrpc::Client> client, std::string service,
                                      std::string method, std::string payload) {
  co_return co_await client->call(service, method, payload);
}

class TestAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pfXXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    agent_ = TestAgent::create(io_.executor());
    auto st =
        io_.run([&]() -> awaitable<Status> { co_return agent_->listen(dir_ + "/agent.sock"); });
    ASSERT_TRUE(st) << st.error().toString();
    client_ = io_.run([&]() -> awaitable<std::shared_ptr<ttrpc::Client>> {
      auto s = co_await ttrpc::connectUnix(io_.executor(), dir_ + "/agent.sock");
      if (!s) co_return nullptr;
      co_return ttrpc::Client::create(std::move(*s));
    });
    ASSERT_TRUE(client_);
  }

  void TearDown() override {
    io_.run([&]() -> awaitable<void> {
      client_->close();
      agent_->shutdown();
      co_return;
    });
    io_.stop();
    std::filesystem::remove_all(dir_);
  }

  std::future<Result<std::string>> callAsync(const std::string& service, const std::string& method,
                                             const google::protobuf::Message& req) {
    return asio::co_spawn(io_.executor(), callCo(client_, service, method, req.SerializeAsString()),
                          asio::use_future);
  }
  Result<std::string> call(const std::string& method, const google::protobuf::Message& req) {
    return callAsync(kAgent, method, req).get();
  }

  static grpc::CreateContainerRequest containerReq(const std::string& id,
                                                   std::vector<std::string> args) {
    grpc::CreateContainerRequest req;
    req.set_container_id(id);
    auto* p = req.mutable_oci()->mutable_process();
    for (auto& a : args) p->add_args(a);
    p->add_env("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
    p->set_cwd("/");
    return req;
  }

  void createAndStart(const std::string& id, std::vector<std::string> args) {
    auto c = call("CreateContainer", containerReq(id, std::move(args)));
    ASSERT_TRUE(c) << c.error().toString();
    grpc::StartContainerRequest start;
    start.set_container_id(id);
    auto s = call("StartContainer", start);
    ASSERT_TRUE(s) << s.error().toString();
  }

  // Reads a stream until the agent says it ended; returns everything read.
  std::string readAll(const std::string& method, const std::string& cid,
                      const std::string& eid = "") {
    std::string out;
    grpc::ReadStreamRequest req;
    req.set_container_id(cid);
    req.set_exec_id(eid);
    req.set_len(3);  // small on purpose: several reads
    for (int i = 0; i < 1000; ++i) {
      auto r = call(method, req);
      if (!r) {
        EXPECT_EQ(r.error().code, Code::kInternal);
        EXPECT_EQ(r.error().message, "eof");
        return out;
      }
      grpc::ReadStreamResponse resp;
      EXPECT_TRUE(resp.ParseFromString(*r));
      EXPECT_LE(resp.data().size(), 3u);
      out += resp.data();
    }
    ADD_FAILURE() << "stream did not end";
    return out;
  }

  Result<int> waitProcess(const std::string& cid, const std::string& eid = "") {
    grpc::WaitProcessRequest req;
    req.set_container_id(cid);
    req.set_exec_id(eid);
    auto r = call("WaitProcess", req);
    if (!r) return fail(r.error());
    grpc::WaitProcessResponse resp;
    EXPECT_TRUE(resp.ParseFromString(*r));
    return resp.status();
  }

  ttrpc::IoThread io_;
  std::string dir_;
  std::shared_ptr<TestAgent> agent_;
  std::shared_ptr<ttrpc::Client> client_;
};

TEST_F(TestAgentTest, RunsAContainerWithItsStreamsAndExitCode) {
  createAndStart("c1", {"sh", "-c", "echo hello; echo err >&2; exit 3"});
  EXPECT_EQ(readAll("ReadStdout", "c1"), "hello\n");
  EXPECT_EQ(readAll("ReadStderr", "c1"), "err\n");
  auto status = waitProcess("c1");
  ASSERT_TRUE(status) << status.error().toString();
  EXPECT_EQ(*status, 3);
  // The container's own process is also named by its container id.
  auto again = waitProcess("c1", "c1");
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 3);
}

TEST_F(TestAgentTest, ProcessRunsOnlyAfterStartContainer) {
  std::string marker = dir_ + "/started";
  auto c = call("CreateContainer", containerReq("c1", {"touch", marker}));
  ASSERT_TRUE(c) << c.error().toString();
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(std::filesystem::exists(marker));
  grpc::StartContainerRequest start;
  start.set_container_id("c1");
  ASSERT_TRUE(call("StartContainer", start));
  auto status = waitProcess("c1");
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 0);
  EXPECT_TRUE(std::filesystem::exists(marker));
  // Starting twice is refused.
  EXPECT_FALSE(call("StartContainer", start));
}

TEST_F(TestAgentTest, ProcessGetsEnvCwdAndUser) {
  auto req = containerReq("c1", {"sh", "-c", "echo $FOO; pwd; id -u; id -g"});
  auto* p = req.mutable_oci()->mutable_process();
  p->add_env("FOO=bar baz");
  p->set_cwd(dir_);
  std::string expected = "bar baz\n" + dir_ + "\n";
  if (::geteuid() == 0) {
    p->mutable_user()->set_uid(1234);
    p->mutable_user()->set_gid(2345);
    expected += "1234\n2345\n";
  } else {
    expected += std::to_string(::geteuid()) + "\n" + std::to_string(::getegid()) + "\n";
  }
  ASSERT_TRUE(call("CreateContainer", req));
  grpc::StartContainerRequest start;
  start.set_container_id("c1");
  ASSERT_TRUE(call("StartContainer", start));
  EXPECT_EQ(readAll("ReadStdout", "c1"), expected);
  EXPECT_EQ(*waitProcess("c1"), 0);
}

TEST_F(TestAgentTest, ExecProcessWhileWaitIsPending) {
  createAndStart("c1", {"sleep", "100"});
  // A WaitProcess that blocks must not hold up the other calls on the same connection.
  grpc::WaitProcessRequest waitInit;
  waitInit.set_container_id("c1");
  auto pending = callAsync(kAgent, "WaitProcess", waitInit);

  grpc::ExecProcessRequest exec;
  exec.set_container_id("c1");
  exec.set_exec_id("e1");
  auto* p = exec.mutable_process();
  for (const char* a : {"sh", "-c", "echo exec; exit 5"}) p->add_args(a);
  auto e = call("ExecProcess", exec);
  ASSERT_TRUE(e) << e.error().toString();
  EXPECT_EQ(readAll("ReadStdout", "c1", "e1"), "exec\n");
  EXPECT_EQ(*waitProcess("c1", "e1"), 5);
  EXPECT_EQ(pending.wait_for(0s), std::future_status::timeout);
  // The exec id is taken now.
  EXPECT_EQ(call("ExecProcess", exec).error().code, Code::kAlreadyExists);

  grpc::SignalProcessRequest kill;
  kill.set_container_id("c1");
  kill.set_signal(SIGKILL);
  ASSERT_TRUE(call("SignalProcess", kill));
  ASSERT_EQ(pending.wait_for(10s), std::future_status::ready);
  auto r = pending.get();
  ASSERT_TRUE(r) << r.error().toString();
  grpc::WaitProcessResponse resp;
  ASSERT_TRUE(resp.ParseFromString(*r));
  EXPECT_EQ(resp.status(), 128 + SIGKILL);
}

TEST_F(TestAgentTest, StdinReachesTheProcess) {
  createAndStart("c1", {"cat"});
  grpc::WriteStreamRequest w;
  w.set_container_id("c1");
  w.set_data("abc\n");
  auto r = call("WriteStdin", w);
  ASSERT_TRUE(r) << r.error().toString();
  grpc::WriteStreamResponse wr;
  ASSERT_TRUE(wr.ParseFromString(*r));
  EXPECT_EQ(wr.len(), 4u);
  grpc::CloseStdinRequest close;
  close.set_container_id("c1");
  ASSERT_TRUE(call("CloseStdin", close));
  EXPECT_EQ(readAll("ReadStdout", "c1"), "abc\n");
  EXPECT_EQ(*waitProcess("c1"), 0);
  // Writing after close is an error, not a crash (no SIGPIPE either).
  EXPECT_FALSE(call("WriteStdin", w));
}

TEST_F(TestAgentTest, SignalTerminatesAProcess) {
  createAndStart("c1", {"sleep", "100"});
  grpc::SignalProcessRequest term;
  term.set_container_id("c1");
  term.set_signal(SIGTERM);
  ASSERT_TRUE(call("SignalProcess", term));
  EXPECT_EQ(*waitProcess("c1"), 128 + SIGTERM);
  // Signalling a process that already exited is fine.
  EXPECT_TRUE(call("SignalProcess", term));
}

TEST_F(TestAgentTest, RemoveContainerKillsItsProcesses) {
  createAndStart("c1", {"sleep", "100"});
  grpc::RemoveContainerRequest rm;
  rm.set_container_id("c1");
  auto r = call("RemoveContainer", rm);
  ASSERT_TRUE(r) << r.error().toString();
  EXPECT_EQ(waitProcess("c1").error().code, Code::kNotFound);
  EXPECT_EQ(call("RemoveContainer", rm).error().code, Code::kNotFound);
}

TEST_F(TestAgentTest, StartErrorsAreReported) {
  EXPECT_EQ(call("CreateContainer", containerReq("c1", {"/no/such/program"})).error().code,
            Code::kNotFound);
  auto req = containerReq("c2", {"true"});
  req.mutable_oci()->mutable_process()->set_cwd("/no/such/dir");
  ASSERT_TRUE(call("CreateContainer", req));
  grpc::StartContainerRequest start;
  start.set_container_id("c2");
  auto s = call("StartContainer", start);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("working directory"), std::string::npos) << s.error().message;
  EXPECT_EQ(call("CreateContainer", req).error().code, Code::kAlreadyExists);
}

TEST_F(TestAgentTest, SandboxDetailsAndHealth) {
  grpc::CreateSandboxRequest sandbox;
  sandbox.set_hostname("pod-a");
  ASSERT_TRUE(call("CreateSandbox", sandbox));
  EXPECT_EQ(io_.run([&]() -> awaitable<std::string> { co_return agent_->sandboxHostname(); }),
            "pod-a");

  auto d = call("GetGuestDetails", grpc::GuestDetailsRequest());
  ASSERT_TRUE(d);
  grpc::GuestDetailsResponse details;
  ASSERT_TRUE(details.ParseFromString(*d));
  EXPECT_EQ(details.agent_details().version(), kAgentVersion);

  auto h = callAsync("grpc.Health", "Check", grpc::CheckRequest()).get();
  ASSERT_TRUE(h);
  grpc::HealthCheckResponse health;
  ASSERT_TRUE(health.ParseFromString(*h));
  EXPECT_EQ(health.status(), grpc::HealthCheckResponse::SERVING);

  createAndStart("c1", {"sleep", "100"});
  ASSERT_TRUE(call("DestroySandbox", grpc::DestroySandboxRequest()));
  EXPECT_EQ(io_.run([&]() -> awaitable<size_t> { co_return agent_->containerCount(); }), 0u);
}

TEST_F(TestAgentTest, UnknownMethodsAreUnimplemented) {
  auto r = call("GetDiagnosticData", grpc::GetDiagnosticDataRequest());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kUnimplemented);
  auto other = callAsync("grpc.Nothing", "Here", grpc::CheckRequest()).get();
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, Code::kUnimplemented);
  auto calls = io_.run([&]() -> awaitable<std::vector<SeenCall>> { co_return agent_->calls(); });
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].method, "GetDiagnosticData");
}

TEST_F(TestAgentTest, ProcessRunsInTheContainersNetworkNamespace) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create a network namespace";
  std::string name = "pfagent-" + std::to_string(::getpid());
  ASSERT_EQ(std::system(("ip netns add " + name).c_str()), 0);
  std::string path = "/run/netns/" + name;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  auto req = containerReq("c1", {"readlink", "/proc/self/ns/net"});
  auto* ns = req.mutable_oci()->mutable_linux()->add_namespaces();
  ns->set_type("network");
  ns->set_path(path);
  ASSERT_TRUE(call("CreateContainer", req));
  grpc::StartContainerRequest start;
  start.set_container_id("c1");
  ASSERT_TRUE(call("StartContainer", start));
  std::string out = readAll("ReadStdout", "c1");
  EXPECT_EQ(*waitProcess("c1"), 0);
  EXPECT_EQ(out, "net:[" + std::to_string(st.st_ino) + "]\n");
  // An exec in that container joins the same namespace.
  grpc::ExecProcessRequest exec;
  exec.set_container_id("c1");
  exec.set_exec_id("e1");
  for (const char* a : {"/bin/readlink", "/proc/self/ns/net"}) exec.mutable_process()->add_args(a);
  ASSERT_TRUE(call("ExecProcess", exec));
  EXPECT_EQ(readAll("ReadStdout", "c1", "e1"), out);
  EXPECT_EQ(std::system(("ip netns del " + name).c_str()), 0);
}

}  // namespace
}  // namespace pp::testagent
