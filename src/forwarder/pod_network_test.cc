// The daemon with a real pod network (root only): on podnetwork's namespace testbed, the worker
// side of the tunnel is set up as the adaptor would, the forwarder daemon runs in the "VM"
// namespace with the resulting apf.json, and a container started through it sees the pod's
// interface and reaches the pod's gateway on the worker. Stopping the daemon removes the device.
#include <gtest/gtest.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/use_future.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/agent.pb.h"
#include "forwarder/forwarder.h"
#include "podnetwork/netns.h"
#include "podnetwork/testbed.h"
#include "podnetwork/vni_allocator.h"
#include "podnetwork/worker_node.h"
#include "test_agent.h"

namespace pp::forwarder {
namespace {

using namespace std::chrono_literals;
using asio::awaitable;
using podnetwork::testbed::netnsPath;

awaitable<Result<std::string>> callCo(asio::any_io_executor ex, std::string host, uint16_t port,
                                      std::string method, std::string payload) {
  ttrpc::TcpTarget target;
  target.host = host;
  target.port = port;
  target.timeout = 5s;
  auto s = co_await ttrpc::connectTcp(ex, target);
  if (!s) co_return fail(s.error());
  auto client = ttrpc::Client::create(std::move(*s));
  ttrpc::CallOptions options;
  options.deadline = std::chrono::steady_clock::now() + 20s;
  auto r = co_await client->call("grpc.AgentService", method, payload, options);
  client->close();
  co_return r;
}

TEST(ForwarderPodNetwork, ContainerRunsInThePodNetwork) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
  auto tb = podnetwork::testbed::Testbed::create(1, true);
  ASSERT_TRUE(tb) << tb.error().toString();
  const auto& site = (*tb)->pods()[0];

  // The adaptor's part: inspect the pod, build the worker end of the tunnel.
  auto vnis = podnetwork::VniAllocator::create();
  ASSERT_TRUE(vnis);
  podnetwork::WorkerNodeOptions wo;
  wo.hostNetnsPath = netnsPath((*tb)->workerNetns());
  auto worker = podnetwork::WorkerNode::create(wo, **vnis);
  ASSERT_TRUE(worker);
  auto config = (*worker)->inspect(netnsPath(site.podNetns));
  ASSERT_TRUE(config) << config.error().toString();
  podnetwork::Ipv4Address vmIp = site.vmIp;
  ASSERT_TRUE((*worker)->setup(netnsPath(site.podNetns), *config, std::span(&vmIp, 1)));

  char tmpl[] = "/tmp/pfXXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  apf::ApfConfig apf;
  apf.podName = "p";
  apf.podNamespace = "default";
  apf.podNetwork = *config;
  std::ofstream(dir + "/apf.json") << apf.toJsonIndented();
  Options o;
  o.configPath = dir + "/apf.json";
  o.podNamespace = netnsPath(site.vmPodNetns);  // -pod-namespace: the netns path is a flag only
  o.listen = site.vmIp.toString() + ":0";
  o.agentSocket = dir + "/agent.sock";
  o.disableTls = true;  // TLS is covered by forwarder_test

  // Threads inherit the namespace of the thread that creates them: the daemon's and the
  // client's io threads live in the VM's namespace.
  std::unique_ptr<ttrpc::IoThread> io;
  std::unique_ptr<Daemon> daemon;
  Status started;
  std::thread inVm([&] {
    auto vmNs = podnetwork::Netns::open(netnsPath(site.vmNetns));
    if (!vmNs) {
      started = fail(vmNs.error());
      return;
    }
    auto scope = podnetwork::NetnsScope::enter(*vmNs);
    if (!scope) {
      started = fail(scope.error());
      return;
    }
    io = std::make_unique<ttrpc::IoThread>();
    daemon = std::make_unique<Daemon>(o);
    started = daemon->start();
  });
  inVm.join();
  ASSERT_TRUE(started) << started.error().toString();
  auto agent = testagent::TestAgent::create(io->executor());
  ASSERT_TRUE(io->run([&]() -> awaitable<Status> { co_return agent->listen(o.agentSocket); }));

  auto call = [&](const std::string& method, const google::protobuf::Message& req) {
    return asio::co_spawn(io->executor(),
                          callCo(io->executor(), site.vmIp.toString(), daemon->port(), method,
                                 req.SerializeAsString()),
                          asio::use_future)
        .get();
  };
  grpc::CreateContainerRequest create;
  create.set_container_id("c1");
  auto* process = create.mutable_oci()->mutable_process();
  for (const char* a : {"/usr/sbin/ip", "-o", "-4", "addr", "show", "dev", "eth0"})
    process->add_args(a);
  auto r = call("CreateContainer", create);
  ASSERT_TRUE(r) << r.error().toString();
  grpc::StartContainerRequest start;
  start.set_container_id("c1");
  ASSERT_TRUE(call("StartContainer", start));
  grpc::ReadStreamRequest read;
  read.set_container_id("c1");
  read.set_len(4096);
  std::string out;
  while (auto chunk = call("ReadStdout", read)) {
    grpc::ReadStreamResponse resp;
    ASSERT_TRUE(resp.ParseFromString(*chunk));
    out += resp.data();
  }
  EXPECT_NE(out.find(config->podIp->toString()), std::string::npos) << out;
  // The data plane: from the VM's pod namespace through the tunnel to the pod's gateway.
  EXPECT_TRUE(podnetwork::testbed::ping(site.vmPodNetns, (*tb)->gateway(), 5s));

  daemon->stop();
  auto links = podnetwork::testbed::runIn(site.vmPodNetns, {"/usr/sbin/ip", "-o", "link", "show"});
  ASSERT_TRUE(links);
  EXPECT_EQ(links->find("eth0"), std::string::npos) << *links;
  io->run([&]() -> awaitable<void> {
    agent->shutdown();
    co_return;
  });
  io->stop();
  EXPECT_TRUE((*worker)->teardown(netnsPath(site.podNetns), *config));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pp::forwarder
