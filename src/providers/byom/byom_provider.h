// The byom provider: pod VMs are machines created beforehand, listed by IP in -vm-pool-ips.
// createInstance takes one from the pool (the allocation lives in a ConfigMap every node
// shares, pool_store.h), waits for its SSH port, and sends it the user data over SFTP, where
// the pod VM image's watcher picks it up; deleteInstance sends the reboot trigger and returns
// the VM to the pool. The instance id is the VM's IP, as upstream.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/flags.h"
#include "k8s/client.h"
#include "providers/byom/byom_config.h"
#include "providers/byom/pool_store.h"
#include "providers/byom/sftp_client.h"
#include "providers/provider.h"

namespace pp::providers::byom {

// Upstream's fixed files, relative to the SFTP start directory (its pool VMs chroot SFTP at
// /media, so these are /media/cidata/user-data and /media/cidata/reboot inside the VM).
inline constexpr char kUserDataPath[] = "cidata/user-data";
inline constexpr char kRebootPath[] = "cidata/reboot";
inline constexpr char kRebootContent[] = "reboot";

struct ByomDependencies {
  // The API server; empty: $KUBECONFIG, else in-cluster (k8s::defaultConfig()).
  std::shared_ptr<const k8s::Client> kube;
  // NODE_NAME, POD_NAMESPACE; empty: the process environment.
  flags::EnvLookup env;
  std::string namespaceFile = kServiceAccountNamespaceFile;
  std::string podinfoNodeNameFile = "/etc/podinfo/nodename";
  std::string hostnameFile = "/etc/hostname";
  // Upstream's readiness probe: TCP :22, 2 s per attempt, 4 attempts 10 ms x5 apart.
  int sshPort = 22;
  std::chrono::milliseconds probeTimeout{2000};
  int probeAttempts = 4;
};

class ByomProvider final : public Provider {
 public:
  static Result<std::unique_ptr<ByomProvider>> create(const ByomConfig& config,
                                                      ByomDependencies deps = {});

  Result<Instance> createInstance(const CreateRequest& request) override;
  Status deleteInstance(const std::string& id) override;
  Status verifyConfig() override;
  // The pool's allocations, all or those of one sandbox id.
  Result<std::vector<Instance>> listInstances(const std::string& sandboxId) override;

  const std::vector<std::string>& pool() const { return pool_; }
  const PoolStore& store() const { return *store_; }

  // Run by create(): upstream's recovery (every allocation kept, the available list
  // recomputed), then the release of allocations whose PeerPod is gone for longer than
  // -byom-orphan-grace-period, and of draining VMs that can now be reset. Public for tests.
  Status recover();

 private:
  ByomProvider(ByomConfig config, ByomDependencies deps, std::vector<std::string> pool,
               std::string privateKey, std::optional<std::set<std::string>> allowlist,
               std::string ns);

  Status checkHostKey(const std::string& ip, const std::string& fingerprint);
  Status sendFile(const std::string& ip, const std::string& path, const std::string& content);
  Status waitForSsh(const std::string& ip);
  // Sends the reboot trigger to the VM of `allocationId` and returns the VM to the pool;
  // when the VM cannot be reached the allocation is marked draining and kept.
  Status resetAndRelease(const std::string& allocationId, const std::string& ip);
  Status release(const std::string& allocationId, const std::string& ip);

  ByomConfig config_;
  ByomDependencies deps_;
  std::vector<std::string> pool_;
  std::string privateKey_;
  std::optional<std::set<std::string>> allowlist_;
  std::unique_ptr<PoolStore> store_;
};

}  // namespace pp::providers::byom
