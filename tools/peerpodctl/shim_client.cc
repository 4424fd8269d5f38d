#include "shim_client.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <random>
#include <thread>

#include "agent/agent.pb.h"
#include "agent/health.pb.h"
#include "base/encoding.h"
#include "hypervisor/hypervisor.pb.h"
#include "ttrpc/stream.h"

namespace pp::peerpodctl {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
constexpr char kPrefix[] = "io.katacontainers.config.hypervisor.";

ttrpc::CallOptions deadlineIn(std::chrono::seconds s) {
  ttrpc::CallOptions o;
  o.deadline = Clock::now() + s;
  return o;
}

void fillProcess(const ProcessSpec& spec, grpc::Process* p) {
  for (const auto& a : spec.args) p->add_args(a);
  for (const auto& e : spec.env) p->add_env(e);
  p->set_cwd(spec.cwd);
  p->mutable_user()->set_uid(0);
  p->mutable_user()->set_gid(0);
}

}  // namespace

ShimClient::ShimClient(std::string hypervisorSocket) : socket_(std::move(hypervisorSocket)) {}

ShimClient::~ShimClient() {
  if (agent_) {
    auto a = agent_;
    io_.run([a]() -> asio::awaitable<void> {
      a->close();
      co_return;
    });
  }
  agent_.reset();
  io_.stop();
}

std::string ShimClient::newSandboxId() {
  std::random_device rd;
  std::string raw(32, '\0');
  for (auto& c : raw) c = static_cast<char>(rd());
  return encoding::hexEncode(raw);
}

template <typename Resp, typename Req>
Result<Resp> ShimClient::hypervisorCall(const std::string& method, const Req& req,
                                        std::chrono::seconds timeout) {
  return io_.run([&]() -> asio::awaitable<Result<Resp>> {
    auto s = co_await ttrpc::connectUnix(io_.executor(), socket_);
    if (!s)
      co_return fail(s.error().wrap("is cloud-api-adaptor running? connecting to " + socket_));
    auto c = ttrpc::Client::create(std::move(*s));
    auto o = deadlineIn(timeout);
    auto r = co_await c->template callTyped<Resp>("hypervisor.Hypervisor", method, req, o);
    c->close();
    co_return r;
  });
}

Result<std::string> ShimClient::createVM(const std::string& id, const PodOptions& pod) {
  hypervisor::CreateVMRequest req;
  req.set_id(id);
  req.set_networknamespacepath(pod.netnsPath);
  auto& a = *req.mutable_annotations();
  // Kata's remote hypervisor always sends all nine keys, with "" or "0" for what is not set.
  a["io.kubernetes.cri.sandbox-name"] = pod.podName;
  a["io.kubernetes.cri.sandbox-namespace"] = pod.podNamespace;
  a[std::string(kPrefix) + "machine_type"] = pod.instanceType;
  a[std::string(kPrefix) + "image"] = pod.image;
  a[std::string(kPrefix) + "default_vcpus"] = std::to_string(pod.vcpus);
  a[std::string(kPrefix) + "default_memory"] = std::to_string(pod.memoryMiB);
  a[std::string(kPrefix) + "cc_init_data"] = "";
  a[std::string(kPrefix) + "default_gpus"] = "0";
  a[std::string(kPrefix) + "default_gpu_model"] = "";
  auto r = hypervisorCall<hypervisor::CreateVMResponse>("CreateVM", req, 60s);
  if (!r) return fail(r.error());
  if (r->agentsocketpath().empty())
    return fail(Code::kInternal, "CreateVM answered an empty agent socket path");
  return r->agentsocketpath();
}

Status ShimClient::startVM(const std::string& id, std::chrono::seconds timeout) {
  hypervisor::StartVMRequest req;
  req.set_id(id);
  auto r = hypervisorCall<hypervisor::StartVMResponse>("StartVM", req, timeout);
  if (!r) return fail(r.error());
  return {};
}

Status ShimClient::stopVM(const std::string& id) {
  hypervisor::StopVMRequest req;
  req.set_id(id);
  auto r = hypervisorCall<hypervisor::StopVMResponse>("StopVM", req, 300s);
  if (!r) return fail(r.error());
  return {};
}

Status ShimClient::connectAgent(const std::string& path, std::chrono::seconds timeout) {
  auto until = Clock::now() + timeout;
  Error last{Code::kUnavailable, "not tried"};
  while (Clock::now() < until) {
    auto c = io_.run([&]() -> asio::awaitable<Result<std::shared_ptr<ttrpc::Client>>> {
      auto s = co_await ttrpc::connectUnix(io_.executor(), path);
      if (!s) co_return fail(s.error());
      co_return ttrpc::Client::create(std::move(*s));
    });
    if (c) {
      agent_ = *c;
      return {};
    }
    last = c.error();
    std::this_thread::sleep_for(50ms);
  }
  return fail(last.wrap("agent socket"));
}

Result<std::string> ShimClient::agentCall(const std::string& service, const std::string& method,
                                          const std::string& payload,
                                          std::chrono::seconds timeout) {
  if (!agent_) return fail(Code::kFailedPrecondition, "not connected to the agent");
  auto a = agent_;
  return io_.run([&]() -> asio::awaitable<Result<std::string>> {
    ttrpc::CallOptions o;
    if (timeout.count() > 0) o.deadline = Clock::now() + timeout;
    co_return co_await a->call(service, method, payload, o);
  });
}

Status ShimClient::healthCheck() {
  grpc::CheckRequest req;
  auto r = agentCall("grpc.Health", "Check", req.SerializeAsString(), 30s);
  if (!r) return fail(r.error());
  grpc::HealthCheckResponse resp;
  if (!resp.ParseFromString(*r)) return fail(Code::kInternal, "malformed HealthCheckResponse");
  if (resp.status() != grpc::HealthCheckResponse::SERVING) {
    return fail(Code::kUnavailable, "agent is not serving");
  }
  return {};
}

Status ShimClient::createSandbox(const std::string& sandboxId, const std::string& hostname) {
  grpc::CreateSandboxRequest req;
  req.set_sandbox_id(sandboxId);
  req.set_hostname(hostname);
  auto r = agentCall("grpc.AgentService", "CreateSandbox", req.SerializeAsString(), 300s);
  return r ? Status{} : fail(r.error());
}

Status ShimClient::createContainer(const std::string& containerId, const ProcessSpec& process) {
  grpc::CreateContainerRequest req;
  req.set_container_id(containerId);
  req.set_exec_id(containerId);
  auto* spec = req.mutable_oci();
  spec->set_version("1.1.0");
  fillProcess(process, spec->mutable_process());
  spec->mutable_root()->set_path("rootfs");
  spec->set_hostname("peerpodctl");
  auto r = agentCall("grpc.AgentService", "CreateContainer", req.SerializeAsString(), 60s);
  return r ? Status{} : fail(r.error());
}

Status ShimClient::startContainer(const std::string& containerId) {
  grpc::StartContainerRequest req;
  req.set_container_id(containerId);
  auto r = agentCall("grpc.AgentService", "StartContainer", req.SerializeAsString(), 60s);
  return r ? Status{} : fail(r.error());
}

Status ShimClient::execProcess(const std::string& containerId, const std::string& execId,
                               const ProcessSpec& process) {
  grpc::ExecProcessRequest req;
  req.set_container_id(containerId);
  req.set_exec_id(execId);
  fillProcess(process, req.mutable_process());
  auto r = agentCall("grpc.AgentService", "ExecProcess", req.SerializeAsString(), 60s);
  return r ? Status{} : fail(r.error());
}

Result<int> ShimClient::waitWithOutput(const std::string& containerId, const std::string& execId,
                                       const std::function<void(std::string_view)>& onStdout,
                                       const std::function<void(std::string_view)>& onStderr) {
  if (!agent_) return fail(Code::kFailedPrecondition, "not connected to the agent");
  auto a = agent_;
  // Readers run until the agent reports end of stream (an error status, as kata-agent does).
  auto pump = [&](const char* method, const std::function<void(std::string_view)>& sink) {
    return std::thread([this, a, method, &sink, containerId, execId] {
      grpc::ReadStreamRequest req;
      req.set_container_id(containerId);
      req.set_exec_id(execId);
      req.set_len(32 * 1024);
      std::string payload = req.SerializeAsString();
      while (true) {
        auto r = io_.run([&]() -> asio::awaitable<Result<std::string>> {
          co_return co_await a->call("grpc.AgentService", method, payload);
        });
        if (!r) break;
        grpc::ReadStreamResponse resp;
        if (!resp.ParseFromString(*r)) break;
        if (resp.data().empty()) continue;
        sink(resp.data());
      }
    });
  };
  std::thread out = pump("ReadStdout", onStdout);
  std::thread err = pump("ReadStderr", onStderr);
  grpc::WaitProcessRequest req;
  req.set_container_id(containerId);
  req.set_exec_id(execId);
  auto r = agentCall("grpc.AgentService", "WaitProcess", req.SerializeAsString(),
                     std::chrono::seconds(0));
  out.join();
  err.join();
  if (!r) return fail(r.error());
  grpc::WaitProcessResponse resp;
  if (!resp.ParseFromString(*r)) return fail(Code::kInternal, "malformed WaitProcessResponse");
  return resp.status();
}

Status ShimClient::removeContainer(const std::string& containerId) {
  grpc::RemoveContainerRequest req;
  req.set_container_id(containerId);
  auto r = agentCall("grpc.AgentService", "RemoveContainer", req.SerializeAsString(), 60s);
  return r ? Status{} : fail(r.error());
}

Status ShimClient::destroySandbox() {
  grpc::DestroySandboxRequest req;
  auto r = agentCall("grpc.AgentService", "DestroySandbox", req.SerializeAsString(), 60s);
  return r ? Status{} : fail(r.error());
}

}  // namespace pp::peerpodctl
