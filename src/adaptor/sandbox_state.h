// The persisted state of one sandbox (<pods-dir>/<id>/state.json, mode 0600: it holds the
// sandbox's TLS client key). Written atomically at every phase transition so that a restarted
// adaptor can reattach to running pod VMs and delete them at StopVM. The sandbox's directory
// also holds the agent socket and the apf.json debug copy (SandboxManager); remove() takes it
// all.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/files.h"
#include "podnetwork/config.h"
#include "providers/provider.h"

namespace pp::adaptor {

enum class Phase {
  kCreated,   // CreateVM answered; no cloud resources yet
  kStarting,  // provider.createInstance in flight (instance name known, id maybe not)
  kRunning,   // instance exists; proxy serves agent.ttrpc
  kStopping,  // StopVM in progress
  kFailed,    // StartVM failed; resources were cleaned up
};

std::string_view phaseName(Phase p);
Result<Phase> parsePhase(std::string_view name);

struct SandboxState {
  std::string id;
  Phase phase = Phase::kCreated;
  std::string podName;
  std::string podNamespace;
  std::string netnsPath;
  providers::InstanceSpec spec;
  std::string instanceName;
  std::string instanceId;
  std::vector<std::string> ips;
  // The pod network (apf.json's "pod-network"); nullopt when the sandbox has no netns.
  std::optional<podnetwork::PodNetworkConfig> network;
  std::string userData;  // cloud-config sent at StartVM (holds the VM's TLS key)
  // TLS material used to talk to this sandbox's forwarder.
  std::string caCertPem;
  std::string clientCertPem;
  std::string clientKeyPem;
  // Kubernetes: the pod's uid and the PeerPod that guards this sandbox's instance (its
  // finalizer is removed once the instance is deleted, also by a restarted adaptor).
  std::string podUid;
  std::string peerPodName;
  int64_t createdAt = 0;  // unix seconds
  int64_t startedAt = 0;
  std::string lastError;
  // An instance may exist whose id was never saved: the adaptor died inside the provider's
  // create. Until the provider's instances tagged with this sandbox have been looked for and
  // deleted, StartVM and StopVM look first (SandboxManager::sweepUnknownInstance).
  bool instanceUnknown = false;

  // The tunnel's VXLAN id (0: no tunnel). The state file also has it as "vni", for readers.
  uint32_t vni() const { return network ? network->vxlanId : 0; }

  nlohmann::json toJson() const;
  static Result<SandboxState> fromJson(const nlohmann::json& j);
};

// Where sandbox states live. The file store is the real one; tests may use others.
class StateStore {
 public:
  virtual ~StateStore() = default;
  // kDurable: on disk when save returns (fsync), as a state that a cloud instance may exist
  // for must be. kReplaceOnly: the whole new state or the old one for a restarted adaptor, but
  // a power loss may take it (CreateVM's first save: nothing exists in the cloud yet).
  virtual Status save(const SandboxState& state, files::Durability durability) = 0;
  virtual Status remove(const std::string& id) = 0;
  // Every readable state; unreadable ones are reported in `problems` and skipped.
  virtual std::vector<SandboxState> loadAll(std::vector<std::string>* problems) = 0;
};

class FileStateStore final : public StateStore {
 public:
  explicit FileStateStore(std::string podsDir) : podsDir_(std::move(podsDir)) {}
  Status save(const SandboxState& state, files::Durability durability) override;
  Status remove(const std::string& id) override;
  std::vector<SandboxState> loadAll(std::vector<std::string>* problems) override;
  std::string sandboxDir(const std::string& id) const { return podsDir_ + "/" + id; }

 private:
  std::string podsDir_;
};

}  // namespace pp::adaptor
