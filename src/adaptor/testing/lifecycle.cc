#include "adaptor/testing/lifecycle.h"

#include <unistd.h>

#include <atomic>

#include "adaptor/hypervisor_service.h"
#include "adaptor/sandbox_spec.h"
#include "hypervisor/hypervisor.pb.h"
#include "ttrpc/client.h"
#include "ttrpc/io_thread.h"
#include "ttrpc/listener.h"
#include "ttrpc/server.h"

namespace pp::adaptor::testing {
namespace {

constexpr char kService[] = "hypervisor.Hypervisor";

std::filesystem::path newDirectory() {
  static std::atomic<int> counter{0};
  auto dir = std::filesystem::temp_directory_path() /
             ("pp-lifecycle-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace

struct LifecycleDriver::Impl {
  explicit Impl(providers::Provider& provider) : dir(newDirectory()) {
    auto real = OpensslCertIssuer::loadOrCreate((dir / "tls").string());
    if (!real) throw std::runtime_error("LifecycleDriver: " + real.error().message);
    issuer = std::make_unique<RecordingCertIssuer>(std::move(*real));
    ManagerOptions o;
    o.podsDir = (dir / "pods").string();
    manager = std::make_unique<SandboxManager>(
        o, provider, store, network, issuer.get(), io.executor(),
        [this](AgentProxyOptions) -> std::shared_ptr<SandboxProxy> {
          return std::make_shared<MemoryProxy>(proxies);
        });
    manager->setKubeHooks(&kube);
    service = std::make_unique<HypervisorService>(*manager, workers);
    service->registerWith(server);

    std::string socket = (dir / "hypervisor.sock").string();
    auto* s = &server;
    auto l = io.run([&]() -> asio::awaitable<Result<std::unique_ptr<ttrpc::Listener>>> {
      co_return ttrpc::listenUnix(io.executor(), socket, [s](std::unique_ptr<ttrpc::ByteStream> b) {
        s->serveConnection(std::move(b));
      });
    });
    if (!l) throw std::runtime_error("LifecycleDriver: " + l.error().message);
    listener = std::move(*l);
    auto c = io.run([&]() -> asio::awaitable<Result<std::shared_ptr<ttrpc::Client>>> {
      auto stream = co_await ttrpc::connectUnix(io.executor(), socket);
      if (!stream) co_return fail(stream.error());
      co_return ttrpc::Client::create(std::move(*stream));
    });
    if (!c) throw std::runtime_error("LifecycleDriver: " + c.error().message);
    client = std::move(*c);
  }

  ~Impl() {
    io.run([&]() -> asio::awaitable<void> {
      client->close();
      listener->close();
      server.shutdown();
      co_return;
    });
    workers.join();
    manager->shutdown();
    io.stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }

  template <typename Resp, typename Req>
  Result<Resp> call(const char* method, const Req& req, ttrpc::CallOptions options = {}) {
    return io.run([&]() -> asio::awaitable<Result<Resp>> {
      co_return co_await client->callTyped<Resp>(kService, method, req, options);
    });
  }

  std::filesystem::path dir;
  ttrpc::IoThread io;
  ElasticPool workers;
  MemoryPodNetwork network;
  MemoryKube kube;
  MemoryStateStore store;
  ProxyLog proxies;
  std::unique_ptr<RecordingCertIssuer> issuer;
  std::unique_ptr<SandboxManager> manager;
  std::unique_ptr<HypervisorService> service;
  ttrpc::Server server;
  std::unique_ptr<ttrpc::Listener> listener;
  std::shared_ptr<ttrpc::Client> client;
};

LifecycleDriver::LifecycleDriver(providers::Provider& provider)
    : impl_(std::make_unique<Impl>(provider)) {}

LifecycleDriver::~LifecycleDriver() = default;

Status LifecycleDriver::createVM(const std::string& sandboxId,
                                 std::map<std::string, std::string> annotations) {
  annotations.try_emplace(kSandboxNameAnnotation, "pod-" + sandboxId.substr(0, 8));
  annotations.try_emplace(kSandboxNamespaceAnnotation, "default");
  hypervisor::CreateVMRequest req;
  req.set_id(sandboxId);
  req.mutable_annotations()->insert(annotations.begin(), annotations.end());
  req.set_networknamespacepath("/run/netns/" + sandboxId);
  auto r = impl_->call<hypervisor::CreateVMResponse>("CreateVM", req);
  if (!r) return fail(r.error());
  return {};
}

Status LifecycleDriver::startVM(const std::string& sandboxId, std::chrono::seconds timeout) {
  hypervisor::StartVMRequest req;
  req.set_id(sandboxId);
  ttrpc::CallOptions options;
  options.deadline = std::chrono::steady_clock::now() + timeout;
  auto r = impl_->call<hypervisor::StartVMResponse>("StartVM", req, options);
  if (!r) return fail(r.error());
  return {};
}

Status LifecycleDriver::stopVM(const std::string& sandboxId) {
  hypervisor::StopVMRequest req;
  req.set_id(sandboxId);
  auto r = impl_->call<hypervisor::StopVMResponse>("StopVM", req);
  if (!r) return fail(r.error());
  return {};
}

std::string LifecycleDriver::instanceId(const std::string& sandboxId) const {
  auto s = impl_->store.state(sandboxId);
  return s ? s->instanceId : "";
}

std::vector<std::string> LifecycleDriver::vmIps(const std::string& sandboxId) const {
  auto s = impl_->store.state(sandboxId);
  return s ? s->ips : std::vector<std::string>{};
}

std::vector<std::string> LifecycleDriver::events() const {
  return impl_->kube.events;
}

size_t LifecycleDriver::openTunnels() const {
  return impl_->network.tunnels.size();
}

}  // namespace pp::adaptor::testing
