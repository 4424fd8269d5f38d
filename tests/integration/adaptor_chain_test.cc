// The whole chain in one process: a client playing the Kata shim calls CreateVM/StartVM on the
// real hypervisor service, then agent calls through <pods-dir>/<id>/agent.ttrpc and the real
// proxy, over mutual TLS, to a fake pod VM; then StopVM. Also restart, reconnect and failures.
#include <google/protobuf/unknown_field_set.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <sstream>
#include <tuple>

#include "adaptor/cert_issuer.h"
#include "adaptor/hypervisor_service.h"
#include "adaptor/sandbox_manager.h"
#include "apf/apf_config.h"
#include "base/log.h"
#include "cloudinit/cloud_config.h"
#include "cloudinit/initdata.h"
#include "fake_provider.h"
#include "hypervisor/hypervisor.pb.h"
#include "peerpods/agent_edit.pb.h"
#include "podvminfo/podvminfo.pb.h"
#include "ttrpc/client.h"
#include "ttrpc/io_thread.h"
#include "ttrpc/listener.h"

namespace pp {
namespace {

using namespace std::chrono_literals;
using asio::awaitable;

std::string sandboxId(int n) {
  char buf[65];
  std::snprintf(buf, sizeof buf, "%08x%056x", 0xabc00000u + n, n);
  return buf;
}

std::map<std::string, std::string> podAnnotations(const std::string& pod) {
  return {{"io.kubernetes.cri.sandbox-name", pod},
          {"io.kubernetes.cri.sandbox-namespace", "default"},
          {"io.katacontainers.config.hypervisor.machine_type", ""},
          {"io.katacontainers.config.hypervisor.image", ""},
          {"io.katacontainers.config.hypervisor.default_vcpus", "2"},
          {"io.katacontainers.config.hypervisor.default_memory", "2048"},
          {"io.katacontainers.config.hypervisor.cc_init_data", ""},
          {"io.katacontainers.config.hypervisor.default_gpus", "0"},
          {"io.katacontainers.config.hypervisor.default_gpu_model", ""}};
}

// One adaptor instance: manager + hypervisor service on a unix socket. Destroying it is the
// in-process equivalent of stopping the daemon: VMs and state files stay.
class Adaptor {
 public:
  Adaptor(const std::string& dir, providers::Provider& provider, uint16_t forwarderPort,
          const std::function<void(adaptor::ManagerOptions&)>& tweak = {})
      : store_(dir + "/pods"), workers_({.maxThreads = 8}) {
    auto issuer = adaptor::OpensslCertIssuer::loadOrCreate(dir + "/tls");
    EXPECT_TRUE(issuer) << issuer.error().message;
    issuer_ = std::move(*issuer);
    adaptor::ManagerOptions opts;
    opts.podsDir = dir + "/pods";
    opts.forwarderPort = forwarderPort;
    opts.proxyTimeout = 10s;
    if (tweak) tweak(opts);
    manager_ = std::make_unique<adaptor::SandboxManager>(opts, provider, store_, network_,
                                                         issuer_.get(), io_.executor());
    reattached = manager_->restore();
    service_ = std::make_unique<adaptor::HypervisorService>(*manager_, workers_);
    service_->registerWith(server_);
    socket = dir + "/hypervisor.sock";
    auto l = io_.run([&]() -> awaitable<Result<std::unique_ptr<ttrpc::Listener>>> {
      co_return ttrpc::listenUnix(
          io_.executor(), socket,
          [this](std::unique_ptr<ttrpc::ByteStream> s) { server_.serveConnection(std::move(s)); });
    });
    EXPECT_TRUE(l);
    listener_ = std::move(*l);
  }
  ~Adaptor() {
    listener_.reset();
    server_.shutdown();
    manager_->shutdown();
    workers_.join();
    io_.stop();
  }

  // Each call on a new connection, like the Go shim.
  template <typename Resp, typename Req>
  Result<Resp> call(const std::string& method, const Req& req, std::chrono::seconds timeout = 60s) {
    return shim_.run([&]() -> awaitable<Result<Resp>> {
      auto s = co_await ttrpc::connectUnix(shim_.executor(), socket);
      if (!s) co_return fail(s.error());
      auto c = ttrpc::Client::create(std::move(*s));
      ttrpc::CallOptions o;
      o.deadline = std::chrono::steady_clock::now() + timeout;
      auto svc = std::string(method == "GetInfo" ? "podvminfo.PodVMInfo" : "hypervisor.Hypervisor");
      auto r = co_await c->template callTyped<Resp>(svc, method, req, o);
      c->close();
      co_return r;
    });
  }

  adaptor::SandboxManager& manager() { return *manager_; }
  std::string socket;
  int reattached = 0;

 private:
  ttrpc::IoThread io_;
  ttrpc::IoThread shim_;
  adaptor::FileStateStore store_;
  adaptor::NoPodNetwork network_;
  std::unique_ptr<adaptor::OpensslCertIssuer> issuer_;
  ElasticPool workers_;
  std::unique_ptr<adaptor::SandboxManager> manager_;
  std::unique_ptr<adaptor::HypervisorService> service_;
  ttrpc::Server server_;
  std::unique_ptr<ttrpc::Listener> listener_;
};

// The shim's agent connection: one long-lived connection to agent.ttrpc.
class AgentConn {
 public:
  explicit AgentConn(const std::string& path) {
    client_ = io_.run([&]() -> awaitable<std::shared_ptr<ttrpc::Client>> {
      auto s = co_await ttrpc::connectUnix(io_.executor(), path);
      if (!s) co_return nullptr;
      co_return ttrpc::Client::create(std::move(*s));
    });
  }
  ~AgentConn() {
    if (client_)
      io_.run([&]() -> awaitable<void> {
        client_->close();
        co_return;
      });
    client_.reset();
    io_.stop();
  }
  bool ok() const { return client_ != nullptr; }
  // Closes the connection now (the shim goes away); calls in flight end.
  void close() {
    io_.run([&]() -> awaitable<void> {
      client_->close();
      co_return;
    });
  }
  Result<std::string> call(const std::string& svc, const std::string& method,
                           const std::string& payload, ttrpc::Metadata md = {}) {
    return io_.run([&]() -> awaitable<Result<std::string>> {
      ttrpc::CallOptions o;
      o.deadline = std::chrono::steady_clock::now() + 30s;
      o.metadata = md;
      co_return co_await client_->call(svc, method, payload, o);
    });
  }

 private:
  ttrpc::IoThread io_;
  std::shared_ptr<ttrpc::Client> client_;
};

class AdaptorChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Short: <dir>/pods/<64-char id>/agent.ttrpc must fit a unix socket address.
    dir_ = std::filesystem::path("/tmp") / ("pc" + std::to_string(std::random_device{}() % 100000));
    std::filesystem::create_directories(dir_);
    port_ = static_cast<uint16_t>(20000 + std::random_device{}() % 20000);
    provider_ = std::make_unique<fakes::FakeProvider>(port_);
  }
  void TearDown() override {
    provider_.reset();
    std::filesystem::remove_all(dir_);
  }

  hypervisor::CreateVMRequest createReq(const std::string& id, const std::string& pod) {
    hypervisor::CreateVMRequest r;
    r.set_id(id);
    for (auto& [k, v] : podAnnotations(pod)) (*r.mutable_annotations())[k] = v;
    return r;
  }

  std::filesystem::path dir_;
  uint16_t port_ = 0;
  std::unique_ptr<fakes::FakeProvider> provider_;
};

TEST_F(AdaptorChainTest, ShimCallsReachTheAgentThroughProxyAndTls) {
  Adaptor a(dir_.string(), *provider_, port_);
  auto id = sandboxId(1);
  auto created = a.call<hypervisor::CreateVMResponse>("CreateVM", createReq(id, "web-0"));
  ASSERT_TRUE(created) << created.error().toString();
  EXPECT_EQ(created->agentsocketpath(), dir_.string() + "/pods/" + id + "/agent.ttrpc");
  // State is on disk, private.
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "pods" / id / "state.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  hypervisor::StartVMRequest start;
  start.set_id(id);
  auto started = a.call<hypervisor::StartVMResponse>("StartVM", start);
  ASSERT_TRUE(started) << started.error().toString();
  ASSERT_EQ(provider_->liveInstances(), 1u);
  ASSERT_TRUE(std::filesystem::exists(created->agentsocketpath()));

  podvminfo::GetInfoRequest info;
  info.set_podname("web-0");
  info.set_podnamespace("default");
  auto vmid = a.call<podvminfo::GetInfoResponse>("GetInfo", info);
  ASSERT_TRUE(vmid) << vmid.error().toString();
  EXPECT_EQ(vmid->vmid(), "fake-" + adaptor::instanceName("web-0", id));

  AgentConn agent(created->agentsocketpath());
  ASSERT_TRUE(agent.ok());
  auto health = agent.call("grpc.Health", "Check", "");
  ASSERT_TRUE(health) << health.error().toString();
  EXPECT_EQ(*health, std::string("\x08\x01", 2));
  // An RPC the proxy does not know is relayed as bytes, metadata included.
  auto diag = agent.call("grpc.AgentService", "GetDiagnosticData", "\x0a\x03log",
                         {{"traceparent", "00-x"}});
  ASSERT_TRUE(diag) << diag.error().toString();
  auto err = agent.call("grpc.AgentService", "Fail", "");
  ASSERT_FALSE(err);
  EXPECT_EQ(err.error().code, Code::kInternal);
  EXPECT_EQ(err.error().message, "agent says no");
  auto calls = provider_->calls(vmid->vmid());
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[1].method, "GetDiagnosticData");
  EXPECT_EQ(calls[1].payload, "\x0a\x03log");
  ASSERT_EQ(calls[1].metadata.size(), 1u);
  EXPECT_EQ(calls[1].metadata[0].second, "00-x");

  hypervisor::StopVMRequest stop;
  stop.set_id(id);
  ASSERT_TRUE(a.call<hypervisor::StopVMResponse>("StopVM", stop));
  EXPECT_EQ(provider_->liveInstances(), 0u);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "pods" / id));
  // The shim's StopVM again (after a lost answer): done already, OK.
  EXPECT_TRUE(a.call<hypervisor::StopVMResponse>("StopVM", stop));
  // A sandbox this adaptor never had: the only StopVM error.
  hypervisor::StopVMRequest unknown;
  unknown.set_id(std::string(64, 'f'));
  auto refused = a.call<hypervisor::StopVMResponse>("StopVM", unknown);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Code::kNotFound);
}

// The adaptor's default log, read with the regular expressions of upstream's e2e suite
// (test/e2e/assessment_helpers.go): getCaaPodLogForPod and getPodvmName find the sandbox by its
// "create a sandbox" line, IsPulledWithNydusSnapshotter the CreateContainer storage line.
TEST_F(AdaptorChainTest, LogHasTheLinesUpstreamsE2eSuiteReads) {
  std::mutex mu;
  std::string log;
  const log::Format savedFormat = log::format();
  log::setFormat(log::Format::kText);
  log::setSinkForTest([&](std::string_view line) {
    std::lock_guard lock(mu);
    log += line;
  });
  struct Restore {
    log::Format format;
    ~Restore() {
      log::setSinkForTest({});
      log::setFormat(format);
    }
  } restore{savedFormat};
  auto captured = [&] {
    std::lock_guard lock(mu);
    return log;
  };

  Adaptor a(dir_.string(), *provider_, port_);
  auto id = sandboxId(7);
  auto req = createReq(id, "job-pi-fgr78");
  (*req.mutable_annotations())["io.kubernetes.cri.sandbox-namespace"] = "coco-pp-e2e-test-9a6697df";
  auto created = a.call<hypervisor::CreateVMResponse>("CreateVM", req);
  ASSERT_TRUE(created) << created.error().toString();
  hypervisor::StartVMRequest start;
  start.set_id(id);
  ASSERT_TRUE(a.call<hypervisor::StartVMResponse>("StartVM", start));

  std::string text = captured();
  const std::regex podMatcher(
      "[0-9]{4}/[0-9]{2}/[0-9]{2} ([0-1]?[0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
      R"( \[adaptor\/cloud\] create a sandbox [0-9|a-f]* for pod job-pi-fgr78)");
  EXPECT_TRUE(std::regex_search(text, podMatcher)) << text;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m,
                                std::regex("create a sandbox ([a-f0-9]{64}) for pod job-pi-fgr78 "
                                           "in namespace coco-pp-e2e-test-9a6697df")))
      << text;
  EXPECT_EQ(m[1], id);

  const std::string cid = "3c1a0e5d7f2b4a6c8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";
  ::peerpods::edit::CreateContainerRequest cc;
  cc.set_container_id(cid);
  auto* storage = cc.add_storages();
  storage->set_driver("image_guest_pull");
  storage->set_source("quay.io/prometheus/busybox:latest");
  storage->set_mount_point("/run/kata-containers/" + cid + "/rootfs");
  // fstype (field 4), which our view of the message does not declare.
  storage->GetReflection()->MutableUnknownFields(storage)->AddLengthDelimited(4, "overlay");
  {
    AgentConn agent(created->agentsocketpath());
    ASSERT_TRUE(agent.ok());
    ASSERT_TRUE(agent.call("grpc.AgentService", "CreateContainer", cc.SerializeAsString()));
  }

  text = captured();
  bool pulled = false;
  std::string::size_type from = 0;
  const std::regex nydus(".*mount_point:/run/kata-containers.*" + cid +
                         ".*driver:image_guest_pull.*$");
  while (from < text.size()) {
    auto to = text.find('\n', from);
    std::string line = text.substr(from, to - from);
    if (std::regex_search(line, nydus)) {
      pulled = true;
      EXPECT_NE(line.find(" [adaptor/proxy]         mount_point:/run/kata-containers/" + cid +
                          "/rootfs source:quay.io/prometheus/busybox:latest fstype:overlay "
                          "driver:image_guest_pull"),
                std::string::npos)
          << line;
    }
    if (to == std::string::npos) break;
    from = to + 1;
  }
  EXPECT_TRUE(pulled) << text;
  EXPECT_NE(text.find(" [adaptor/proxy] CreateContainer: containerID:" + cid), std::string::npos)
      << text;

  hypervisor::StopVMRequest stop;
  stop.set_id(id);
  EXPECT_TRUE(a.call<hypervisor::StopVMResponse>("StopVM", stop));
}

// The apf.json our adaptor puts in the user data is upstream's: the pod's Kubernetes namespace
// and name, PEM text (not base64), laid out as Go's MarshalIndent does. When Go is installed,
// src/apf's Go program (upstream's struct tags) decodes it with the PEMs intact.
TEST_F(AdaptorChainTest, ApfJsonIsWhatUpstreamsForwarderReads) {
  Adaptor a(dir_.string(), *provider_, port_);
  auto id = sandboxId(3);
  auto req = createReq(id, "web-0");
  (*req.mutable_annotations())["io.kubernetes.cri.sandbox-namespace"] = "team-a";
  ASSERT_TRUE(a.call<hypervisor::CreateVMResponse>("CreateVM", req));
  auto state = nlohmann::json::parse(std::ifstream(dir_ / "pods" / id / "state.json"));
  auto files = cloudinit::parseCloudConfig(state.value("userData", ""));
  ASSERT_TRUE(files) << files.error().toString();
  std::string text;
  for (const auto& f : *files) {
    if (f.path == apf::kApfJsonPath) text = f.content;
  }
  ASSERT_FALSE(text.empty()) << "no apf.json in the user data";
  auto apf = apf::ApfConfig::parse(text);
  ASSERT_TRUE(apf) << apf.error().toString();
  EXPECT_EQ(apf->podNamespace, "team-a");
  EXPECT_EQ(apf->podName, "web-0");
  EXPECT_FALSE(apf->podNetwork);
  EXPECT_EQ(apf->tlsServerCert.rfind("-----BEGIN CERTIFICATE-----\n", 0), 0u);
  EXPECT_EQ(apf->tlsServerKey.rfind("-----BEGIN ", 0), 0u);
  EXPECT_EQ(apf->tlsClientCa.rfind("-----BEGIN CERTIFICATE-----\n", 0), 0u);
  EXPECT_EQ(apf->toJsonIndented(), text);
  EXPECT_EQ(text.rfind("{\n    \"pod-network\": null,\n    \"pod-namespace\": \"team-a\",", 0), 0u)
      << text;

  std::string go = PP_APF_GO;
  if (go.empty()) GTEST_SKIP() << "Go was not found when configuring: the Go half is not run";
  std::string in = (dir_ / "apf.json").string();
  std::ofstream(in) << text;
  auto run = [&](const std::string& args) {
    std::string out;
    FILE* p = ::popen((go + " " + args + " < " + in).c_str(), "r");
    char buf[4096];
    for (size_t n; p && (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    int status = p ? ::pclose(p) : -1;
    return status == 0 ? out : "exit status " + std::to_string(status);
  };
  EXPECT_EQ(run("check-tls"), "ok " + adaptor::instanceName("web-0", id) + "\n");
  EXPECT_EQ(run("reencode -indent"), text);
  EXPECT_EQ(run("field pod-namespace"), "team-a");
}

// Upstream keeps a copy of the pod VM's apf.json in <pods-dir>/<id>/ for debugging; ours is
// the same bytes, readable only by root (it holds the VM's private key) and removed with the
// sandbox (upstream leaves it behind).
TEST_F(AdaptorChainTest, ApfJsonDebugCopyIsPrivateAndGoesWithTheSandbox) {
  Adaptor a(dir_.string(), *provider_, port_);
  auto id = sandboxId(4);
  ASSERT_TRUE(a.call<hypervisor::CreateVMResponse>("CreateVM", createReq(id, "web-1")));
  const auto copy = dir_ / "pods" / id / "apf.json";
  struct stat st {};
  ASSERT_EQ(::stat(copy.c_str(), &st), 0) << copy;
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  std::stringstream bytes;
  bytes << std::ifstream(copy).rdbuf();
  auto state = nlohmann::json::parse(std::ifstream(dir_ / "pods" / id / "state.json"));
  auto files = cloudinit::parseCloudConfig(state.value("userData", ""));
  ASSERT_TRUE(files) << files.error().toString();
  std::string sent;
  for (const auto& f : *files) {
    if (f.path == apf::kApfJsonPath) sent = f.content;
  }
  ASSERT_NE(sent.find("tls-server-key"), std::string::npos);
  EXPECT_EQ(bytes.str(), sent);

  hypervisor::StartVMRequest start;
  start.set_id(id);
  ASSERT_TRUE(a.call<hypervisor::StartVMResponse>("StartVM", start));
  hypervisor::StopVMRequest stop;
  stop.set_id(id);
  ASSERT_TRUE(a.call<hypervisor::StopVMResponse>("StopVM", stop));
  EXPECT_FALSE(std::filesystem::exists(copy));
}

// Upstream's TLS profile (-tls-min-version, -tls-cipher-suites) goes to each new VM in apf.json
// and holds on the proxy's side of the link too.
TEST_F(AdaptorChainTest, TlsProfileReachesTheVmAndTheProxy) {
  auto run = [&](int n, const std::string& version, std::vector<std::string> suites) {
    Adaptor a(dir_.string(), *provider_, port_, [&](adaptor::ManagerOptions& o) {
      o.tlsMinVersion = version;
      o.tlsCipherSuites = suites;
      o.proxyTimeout = 2s;
    });
    auto id = sandboxId(20 + n);
    EXPECT_TRUE(a.call<hypervisor::CreateVMResponse>("CreateVM",
                                                     createReq(id, "tls-" + std::to_string(n))));
    std::stringstream sent;
    sent << std::ifstream(dir_ / "pods" / id / "apf.json").rdbuf();
    auto apf = apf::ApfConfig::parse(sent.str());
    EXPECT_TRUE(apf) << sent.str();
    if (apf) {
      EXPECT_EQ(apf->tlsMinVersion, version);
      EXPECT_EQ(apf->tlsCipherSuites, suites);
    }
    hypervisor::StartVMRequest start;
    start.set_id(id);
    bool ok = bool(a.call<hypervisor::StartVMResponse>("StartVM", start));
    hypervisor::StopVMRequest stop;
    stop.set_id(id);
    EXPECT_TRUE(a.call<hypervisor::StopVMResponse>("StopVM", stop));
    return std::pair{ok, sent.str()};
  };
  auto [ok, text] = run(1, "VersionTLS13", {});
  EXPECT_TRUE(ok);
  EXPECT_NE(text.find("\n    \"tls-min-version\": \"VersionTLS13\""), std::string::npos) << text;
  EXPECT_EQ(text.find("tls-cipher-suites"), std::string::npos) << text;  // omitempty

  // A VM that speaks at most TLS 1.2: refused by a proxy that wants 1.3; a TLS 1.2 suite for
  // the VM's ECDSA key works, one for RSA keys cannot.
  provider_->maxTlsVersion = TLS1_2_VERSION;
  EXPECT_FALSE(run(2, "VersionTLS13", {}).first);
  std::tie(ok, text) = run(3, "VersionTLS12", {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"});
  EXPECT_TRUE(ok);
  EXPECT_NE(
      text.find(
          "\"tls-cipher-suites\": [\n        \"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\"\n    ]"),
      std::string::npos)
      << text;
  EXPECT_FALSE(run(4, "VersionTLS12", {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}).first);
}

TEST_F(AdaptorChainTest, OneLongLivedConnectionLikeRuntimeRs) {
  Adaptor a(dir_.string(), *provider_, port_);
  ttrpc::IoThread io;
  auto id = sandboxId(9);
  auto req = createReq(id, "rs-pod");
  auto ok = io.run([&]() -> awaitable<bool> {
    auto s = co_await ttrpc::connectUnix(io.executor(), a.socket);
    if (!s) co_return false;
    auto c = ttrpc::Client::create(std::move(*s));
    ttrpc::CallOptions o;
    o.deadline = std::chrono::steady_clock::now() + 60s;
    auto created = co_await c->callTyped<hypervisor::CreateVMResponse>("hypervisor.Hypervisor",
                                                                       "CreateVM", req, o);
    if (!created) co_return false;
    hypervisor::StartVMRequest start;
    start.set_id(id);
    auto started = co_await c->callTyped<hypervisor::StartVMResponse>("hypervisor.Hypervisor",
                                                                      "StartVM", start, o);
    if (!started) co_return false;
    hypervisor::VersionRequest v;
    auto version = co_await c->callTyped<hypervisor::VersionResponse>("hypervisor.Hypervisor",
                                                                      "Version", v, o);
    if (!version || version->version() != "0.0.0") co_return false;
    hypervisor::StopVMRequest stop;
    stop.set_id(id);
    auto stopped = co_await c->callTyped<hypervisor::StopVMResponse>("hypervisor.Hypervisor",
                                                                     "StopVM", stop, o);
    c->close();
    co_return bool(stopped);
  });
  EXPECT_TRUE(ok);
  EXPECT_EQ(provider_->liveInstances(), 0u);
}

TEST_F(AdaptorChainTest, PodVmInfoWaitsWithinTheCallersDeadline) {
  Adaptor a(dir_.string(), *provider_, port_);
  podvminfo::GetInfoRequest info;
  info.set_podname("later");
  info.set_podnamespace("default");
  auto nowait = a.call<podvminfo::GetInfoResponse>("GetInfo", info);
  ASSERT_FALSE(nowait);
  EXPECT_EQ(nowait.error().code, Code::kNotFound);
  info.set_wait(true);
  auto t0 = std::chrono::steady_clock::now();
  auto timedOut = a.call<podvminfo::GetInfoResponse>("GetInfo", info, 1s);
  ASSERT_FALSE(timedOut);
  EXPECT_EQ(timedOut.error().code, Code::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);

  // A waiter started before StartVM gets the instance id as soon as it exists.
  auto id = sandboxId(10);
  ASSERT_TRUE(a.call<hypervisor::CreateVMResponse>("CreateVM", createReq(id, "later")));
  std::thread waiter([&] {
    auto r = a.call<podvminfo::GetInfoResponse>("GetInfo", info, 30s);
    EXPECT_TRUE(r);
    if (r) {
      EXPECT_EQ(r->vmid(), "fake-" + adaptor::instanceName("later", id));
    }
  });
  std::this_thread::sleep_for(200ms);
  hypervisor::StartVMRequest start;
  start.set_id(id);
  ASSERT_TRUE(a.call<hypervisor::StartVMResponse>("StartVM", start));
  waiter.join();
}

TEST_F(AdaptorChainTest, BadCreateVmInputIsInvalidArgument) {
  Adaptor a(dir_.string(), *provider_, port_);
  auto noName = createReq(sandboxId(2), "");
  auto r = a.call<hypervisor::CreateVMResponse>("CreateVM", noName);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_NE(r.error().message.find("io.kubernetes.cri.sandbox-name"), std::string::npos);

  auto badId = createReq("../../etc", "p");
  r = a.call<hypervisor::CreateVMResponse>("CreateVM", badId);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);

  auto badMem = createReq(sandboxId(3), "p");
  (*badMem.mutable_annotations())["io.katacontainers.config.hypervisor.default_memory"] = "lots";
  r = a.call<hypervisor::CreateVMResponse>("CreateVM", badMem);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_NE(r.error().message.find("default_memory"), std::string::npos);
  EXPECT_EQ(a.manager().sandboxCount(), 0u);
}

// The security review's finding: a few hundred bytes of cc_init_data annotation made the
// adaptor overflow its stack (std::regex over 250 000 blanks; toml++ over deep dotted keys).
// Now each is a clear INVALID_ARGUMENT and the adaptor goes on serving.
TEST_F(AdaptorChainTest, HostileInitdataAnnotationIsRefusedAndTheAdaptorLives) {
  Adaptor a(dir_.string(), *provider_, port_);
  std::string dotted = "a";
  for (int i = 0; i < 120000; ++i) dotted += ".a";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {cloudinit::encodeInitdata(std::string(250000, ' ')), "`algorithm` is missing"},
      {cloudinit::encodeInitdata(std::string(250000, '\n') + "version = 1"),
       "`version` is not a string"},
      {cloudinit::encodeInitdata(dotted + " = 1\n"), "dotted key parts"},
      {std::string(250000, ' ') + "x", "not valid TOML"},
  };
  int n = 10;
  for (const auto& [value, expect] : cases) {
    EXPECT_LT(value.size(), 260000u);
    auto req = createReq(sandboxId(n++), "hostile");
    (*req.mutable_annotations())["io.katacontainers.config.hypervisor.cc_init_data"] = value;
    auto r = a.call<hypervisor::CreateVMResponse>("CreateVM", req);
    ASSERT_FALSE(r) << expect;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_NE(r.error().message.find("cc_init_data"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(expect), std::string::npos) << r.error().message;
  }
  EXPECT_EQ(a.manager().sandboxCount(), 0u);
  EXPECT_TRUE(a.call<hypervisor::CreateVMResponse>("CreateVM", createReq(sandboxId(n), "next")));
}

TEST_F(AdaptorChainTest, ImageAnnotationIsCheckedAgainstTheAllowList) {
  auto withImage = [&](int n, const std::string& image) {
    auto req = createReq(sandboxId(n), "img");
    (*req.mutable_annotations())["io.katacontainers.config.hypervisor.image"] = image;
    return req;
  };
  {
    Adaptor a(dir_.string(), *provider_, port_, [](adaptor::ManagerOptions& o) {
      o.allowedImages = *providers::ImagePolicy::parse({"podvm-base.qcow2", "podvm-gpu-*"});
    });
    auto r = a.call<hypervisor::CreateVMResponse>("CreateVM",
                                                  withImage(20, "podvm-web-1234abcd-root.qcow2"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Code::kPermissionDenied);
    EXPECT_NE(r.error().message.find("not in -allowed-images"), std::string::npos)
        << r.error().message;
    EXPECT_TRUE(a.call<hypervisor::CreateVMResponse>("CreateVM", withImage(21, "podvm-gpu-v2")));
    EXPECT_TRUE(
        a.call<hypervisor::CreateVMResponse>("CreateVM", withImage(22, "")));  // no annotation
    EXPECT_EQ(a.manager().sandboxCount(), 2u);
  }
  std::filesystem::remove_all(dir_ / "pods");
  // No list: a VM provider takes any image (upstream's behaviour); a provider that runs the
  // image on the node (docker) only its own.
  provider_->ownImage = "podvm:local";
  Adaptor b(dir_.string(), *provider_, port_);
  auto r = b.call<hypervisor::CreateVMResponse>("CreateVM", withImage(23, "alpine:latest"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kPermissionDenied);
  EXPECT_NE(r.error().message.find("-allowed-images (ALLOWED_IMAGES)"), std::string::npos)
      << r.error().message;
  EXPECT_TRUE(b.call<hypervisor::CreateVMResponse>("CreateVM", withImage(24, "podvm:local")));
  provider_->ownImage.clear();
  EXPECT_TRUE(b.call<hypervisor::CreateVMResponse>("CreateVM", withImage(25, "alpine:latest")));
}

TEST_F(AdaptorChainTest, FailedStartDeletesTheInstanceAndReportsTheError) {
  Adaptor a(dir_.string(), *provider_, port_);
  auto id = sandboxId(4);
  ASSERT_TRUE(a.call<hypervisor::CreateVMResponse>("CreateVM", createReq(id, "broken")));
  provider_->failAfterCreate = true;
  hypervisor::StartVMRequest start;
  start.set_id(id);
  auto r = a.call<hypervisor::StartVMResponse>("StartVM", start);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("failed to boot"), std::string::npos);
  EXPECT_EQ(provider_->liveInstances(), 0u);  // upstream would have leaked it
  EXPECT_EQ(provider_->deletes(), 1);

  // The VM never answers: StartVM gives up at its deadline and cleans up.
  provider_->failAfterCreate = false;
  provider_->startVmServer = false;
  auto id2 = sandboxId(5);
  ASSERT_TRUE(a.call<hypervisor::CreateVMResponse>("CreateVM", createReq(id2, "silent")));
  start.set_id(id2);
  r = a.call<hypervisor::StartVMResponse>("StartVM", start, 2s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kDeadlineExceeded);
  // The adaptor gives up at the same deadline and deletes the instance it created.
  for (int i = 0; i < 50 && provider_->liveInstances() > 0; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(provider_->liveInstances(), 0u);
  EXPECT_EQ(provider_->deletes(), 2);
}

TEST_F(AdaptorChainTest, RestartReattachesAndStopDeletes) {
  auto id = sandboxId(6);
  std::string agentPath;
  {
    Adaptor a(dir_.string(), *provider_, port_);
    auto c = a.call<hypervisor::CreateVMResponse>("CreateVM", createReq(id, "survivor"));
    ASSERT_TRUE(c);
    agentPath = c->agentsocketpath();
    hypervisor::StartVMRequest start;
    start.set_id(id);
    ASSERT_TRUE(a.call<hypervisor::StartVMResponse>("StartVM", start));
  }  // adaptor stops; the VM keeps running
  ASSERT_EQ(provider_->liveInstances(), 1u);
  Adaptor b(dir_.string(), *provider_, port_);
  EXPECT_EQ(b.reattached, 1);
  {
    AgentConn agent(agentPath);
    ASSERT_TRUE(agent.ok());
    auto health = agent.call("grpc.Health", "Check", "");
    ASSERT_TRUE(health) << health.error().toString();
  }
  hypervisor::StopVMRequest stop;
  stop.set_id(id);
  ASSERT_TRUE(b.call<hypervisor::StopVMResponse>("StopVM", stop));
  EXPECT_EQ(provider_->liveInstances(), 0u);
}

TEST_F(AdaptorChainTest, ProxyReconnectsAfterTheUpstreamConnectionDrops) {
  Adaptor a(dir_.string(), *provider_, port_);
  auto id = sandboxId(7);
  auto c = a.call<hypervisor::CreateVMResponse>("CreateVM", createReq(id, "flaky"));
  ASSERT_TRUE(c);
  hypervisor::StartVMRequest start;
  start.set_id(id);
  ASSERT_TRUE(a.call<hypervisor::StartVMResponse>("StartVM", start));
  AgentConn agent(c->agentsocketpath());
  ASSERT_TRUE(agent.call("grpc.Health", "Check", ""));
  auto vm = "fake-" + adaptor::instanceName("flaky", id);
  ASSERT_TRUE(provider_->exists(vm));
  provider_->dropConnections(vm);
  std::this_thread::sleep_for(100ms);
  // The shim's connection to agent.ttrpc is unaffected; the next call re-dials the VM.
  auto r = agent.call("grpc.Health", "Check", "");
  ASSERT_TRUE(r) << r.error().toString();
  EXPECT_EQ(provider_->calls(vm).size(), 2u);
}

// The shim goes away while the proxy dials the VM: its call is cancelled in the middle of the
// dial. The next call must dial again, not wait for a dial that nobody runs any more.
TEST_F(AdaptorChainTest, ACallCancelledWhileTheProxyDialsDoesNotWedgeTheNext) {
  Adaptor a(dir_.string(), *provider_, port_);
  auto id = sandboxId(8);
  auto c = a.call<hypervisor::CreateVMResponse>("CreateVM", createReq(id, "wedge"));
  ASSERT_TRUE(c);
  hypervisor::StartVMRequest start;
  start.set_id(id);
  ASSERT_TRUE(a.call<hypervisor::StartVMResponse>("StartVM", start));
  auto vm = "fake-" + adaptor::instanceName("wedge", id);
  {
    AgentConn first(c->agentsocketpath());
    ASSERT_TRUE(first.call("grpc.Health", "Check", ""));
  }
  ASSERT_TRUE(provider_->setListening(vm, false));
  provider_->dropConnections(vm);
  std::this_thread::sleep_for(100ms);

  AgentConn leaving(c->agentsocketpath());
  auto pending =
      std::async(std::launch::async, [&] { return leaving.call("grpc.Health", "Check", ""); });
  std::this_thread::sleep_for(500ms);  // the proxy is dialling the silent VM
  leaving.close();
  EXPECT_FALSE(pending.get());

  ASSERT_TRUE(provider_->setListening(vm, true));
  AgentConn next(c->agentsocketpath());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = next.call("grpc.Health", "Check", "");
  ASSERT_TRUE(r) << r.error().toString();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
}

TEST_F(AdaptorChainTest, ManySandboxesStartConcurrently) {
  provider_->createDelay = 1s;
  Adaptor a(dir_.string(), *provider_, port_);
  constexpr int kCount = 24;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kCount; ++i) {
    threads.emplace_back([&, i] {
      auto id = sandboxId(100 + i);
      if (!a.call<hypervisor::CreateVMResponse>("CreateVM",
                                                createReq(id, "pod-" + std::to_string(i))))
        return;
      hypervisor::StartVMRequest start;
      start.set_id(id);
      if (a.call<hypervisor::StartVMResponse>("StartVM", start)) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(ok, kCount);
  // 8 workers, 1 s per create: about 3 s; serialised it would take 24 s.
  EXPECT_LT(took, 12s);
}

}  // namespace
}  // namespace pp
