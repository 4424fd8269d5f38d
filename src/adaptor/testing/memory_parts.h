// In-memory stand-ins for a SandboxManager's parts: a provider (instances in a set), the pod
// network (VNIs from 7000), the Kubernetes hooks, the state store (the JSON text the file store
// would write), a certificate issuer that wraps the real one, and an agent proxy that is ready
// at once. Used by the manager's own tests and by LifecycleDriver (lifecycle.h), which runs a
// real provider through the hypervisor service with the other parts in memory.
#pragma once

#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "adaptor/cert_issuer.h"
#include "adaptor/sandbox_manager.h"
#include "providers/provider.h"

namespace pp::adaptor::testing {

class MemoryProvider final : public providers::Provider {
 public:
  Result<providers::Instance> createInstance(const providers::CreateRequest& r) override {
    requests.push_back(r);
    if (!createError.empty()) return fail(createCode, createError);
    providers::Instance i{"i-" + r.instanceName, r.instanceName, ips};
    // A second instance of the same name gets another id, as a cloud's would.
    for (int n = 1; live.contains(i.id); ++n)
      i.id = "i-" + r.instanceName + "-" + std::to_string(n);
    live.insert(i.id);
    sandboxOf[i.id] = r.sandboxId;
    return i;
  }
  Status deleteInstance(const std::string& id) override {
    deleted.push_back(id);
    if (!deleteError.empty()) return fail(Code::kUnavailable, deleteError);
    live.erase(id);
    return {};
  }
  // The live instances created for the sandbox `tag`.
  Result<std::vector<providers::Instance>> listInstances(const std::string& tag) override {
    ++lists;
    if (listUnimplemented) return Provider::listInstances(tag);
    if (!listError.empty()) return fail(Code::kUnavailable, listError);
    std::vector<providers::Instance> out;
    for (const auto& id : live) {
      if (sandboxOf[id] == tag) out.push_back({id, "", ips});
    }
    return out;
  }

  std::string createError;
  Code createCode = Code::kUnavailable;  // of createError
  std::string deleteError;
  std::string listError;
  bool listUnimplemented = false;
  std::vector<std::string> ips{"198.18.0.10"};
  std::vector<providers::CreateRequest> requests;
  std::set<std::string> live;
  std::map<std::string, std::string> sandboxOf;  // instance id -> sandbox id
  std::vector<std::string> deleted;
  int lists = 0;
};

// Hands out VNIs from 7000 and remembers what is in use and what is connected.
class MemoryPodNetwork final : public PodNetwork {
 public:
  Result<std::optional<podnetwork::PodNetworkConfig>> inspect(const std::string& netns) override {
    if (netns.empty()) return std::nullopt;
    if (!inspectError.empty()) return fail(Code::kInternal, inspectError);
    podnetwork::PodNetworkConfig c;
    c.podIp = *podnetwork::Ipv4Prefix::parse("198.19.1.10/24");
    c.interfaceName = "eth0";
    c.vxlanPort = podnetwork::kDefaultVxlanPort;
    c.vxlanId = next++;
    vnis.insert(c.vxlanId);
    return c;
  }
  void reserve(const podnetwork::PodNetworkConfig& c) override { vnis.insert(c.vxlanId); }
  void release(const podnetwork::PodNetworkConfig& c) override { vnis.erase(c.vxlanId); }
  Status setup(const std::string& netns, const podnetwork::PodNetworkConfig& c,
               const std::vector<std::string>& vmIps) override {
    if (!setupError.empty()) return fail(Code::kInternal, setupError);
    tunnels[netns] = {c.vxlanId, vmIps};
    return {};
  }
  Status teardown(const std::string& netns, const podnetwork::PodNetworkConfig& c) override {
    ++teardowns;
    tunnels.erase(netns);
    vnis.erase(c.vxlanId);
    return {};
  }

  uint32_t next = 7000;
  std::string inspectError;
  std::string setupError;
  std::set<uint32_t> vnis;
  std::map<std::string, std::pair<uint32_t, std::vector<std::string>>> tunnels;
  int teardowns = 0;
};

class MemoryKube final : public KubeHooks {
 public:
  PodInfo podInfo(const std::string&, const std::string&) override { return {"uid-1", authJson}; }
  Result<std::string> createPeerPod(const SandboxState& s) override {
    if (peerPodsRefused) return fail(Code::kUnavailable, "API server down");
    peerPods.insert(s.podNamespace + "/" + s.instanceName);
    return s.instanceName;
  }
  Status releasePeerPod(const std::string& ns, const std::string& name) override {
    peerPods.erase(ns + "/" + name);
    return {};
  }
  void event(const SandboxState&, EventType, const std::string& reason,
             const std::string&) override {
    events.push_back(reason);
  }

  std::string authJson;
  bool peerPodsRefused = false;
  std::set<std::string> peerPods;
  std::vector<std::string> events;
};

// Keeps each sandbox's state as the JSON text the file store would write, and every save.
class MemoryStateStore final : public StateStore {
 public:
  Status save(const SandboxState& s, files::Durability durability) override {
    if (!saveError.empty()) return fail(Code::kInternal, saveError);
    files[s.id] = s.toJson().dump(2);
    history.push_back(s);
    durabilities.push_back(durability);
    return {};
  }
  Status remove(const std::string& id) override {
    files.erase(id);
    return {};
  }
  std::vector<SandboxState> loadAll(std::vector<std::string>* problems) override {
    std::vector<SandboxState> out;
    for (const auto& [id, text] : files) {
      auto s = SandboxState::fromJson(nlohmann::json::parse(text));
      if (s) {
        out.push_back(std::move(*s));
      } else if (problems) {
        problems->push_back(s.error().message);
      }
    }
    return out;
  }
  Result<SandboxState> state(const std::string& id) const {
    auto it = files.find(id);
    if (it == files.end()) return fail(Code::kNotFound, id);
    return SandboxState::fromJson(nlohmann::json::parse(it->second));
  }
  std::vector<Phase> phases() const {
    std::vector<Phase> out;
    for (const auto& s : history) out.push_back(s.phase);
    return out;
  }

  std::string saveError;
  std::map<std::string, std::string> files;
  std::vector<SandboxState> history;
  std::vector<files::Durability> durabilities;  // of each save in history
};

// The real issuer (in-process OpenSSL: the manager builds the proxy's TLS context from what it
// hands out), which can be made to refuse and remembers what it issued.
class RecordingCertIssuer final : public CertIssuer {
 public:
  explicit RecordingCertIssuer(std::unique_ptr<OpensslCertIssuer> real) : real_(std::move(real)) {}
  Result<ServerCert> issueServer(const std::string& name) override {
    if (refuse) return fail(Code::kInternal, "CA unavailable");
    auto cert = real_->issueServer(name);
    if (cert) issued.push_back({name, cert->keyPem});
    return cert;
  }
  ClientBundle clientBundle() const override { return real_->clientBundle(); }
  std::string clientCaPem() const override { return real_->clientCaPem(); }

  bool refuse = false;
  std::vector<std::pair<std::string, std::string>> issued;  // instance name, server key

 private:
  std::unique_ptr<OpensslCertIssuer> real_;
};

// The agent proxy: ready (or not) at once.
struct ProxyLog {
  Status startResult;
  std::vector<AgentProxyOptions> made;
  int started = 0;
  int listening = 0;
  int shutdowns = 0;
};

class MemoryProxy final : public SandboxProxy {
 public:
  explicit MemoryProxy(ProxyLog& log) : log_(log) {}
  std::future<Status> start(Clock::time_point) override {
    ++log_.started;
    return ready(log_.startResult);
  }
  std::future<Status> listenOnly() override {
    ++log_.listening;
    return ready({});
  }
  void shutdown() override { ++log_.shutdowns; }

 private:
  static std::future<Status> ready(Status s) {
    std::promise<Status> p;
    p.set_value(std::move(s));
    return p.get_future();
  }
  ProxyLog& log_;
};

}  // namespace pp::adaptor::testing
