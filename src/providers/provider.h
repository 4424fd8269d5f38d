// The interface every cloud provider implements (upstream's cloud.Provider).
// Calls are blocking; the adaptor runs them on its worker pool, never on an I/O thread. A
// provider may be called from several worker threads at once and must be thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"

namespace pp::providers {

// What the pod asked for, from the CreateVM annotations. Zero/empty means "not requested".
struct InstanceSpec {
  std::string instanceType;  // io.katacontainers.config.hypervisor.machine_type
  uint32_t vcpus = 0;        // default_vcpus
  uint32_t memoryMiB = 0;    // default_memory
  uint32_t gpus = 0;         // default_gpus
  std::string gpuModel;      // default_gpu_model
  std::string image;         // io.katacontainers.config.hypervisor.image
  bool multiNic = false;     // -ext-network-via-podvm
};

// A pod VM as the provider knows it.
struct Instance {
  std::string id;                // what deleteInstance takes; stable across adaptor restarts
  std::string name;              // the instance name (also the TLS server name)
  std::vector<std::string> ips;  // first one is where the forwarder listens
};

struct CreateRequest {
  std::string podName;
  std::string podNamespace;
  std::string sandboxId;
  std::string instanceName;  // podvm-<pod>-<sandbox id prefix>, already length-limited
  std::string userData;      // #cloud-config document
  InstanceSpec spec;
};

class Provider {
 public:
  virtual ~Provider() = default;

  // Creates and boots the pod VM; returns once its IP addresses are known (an instance with
  // no IP is an error). On failure after the instance was created, the provider deletes it
  // before returning the error, so a failed StartVM leaks nothing (upstream leaks here).
  virtual Result<Instance> createInstance(const CreateRequest& request) = 0;

  // Deletes an instance by the id createInstance returned; works from the id alone, since
  // peerpod-ctrl calls it after restarts. An instance that is already gone is success.
  virtual Status deleteInstance(const std::string& id) = 0;

  // Releases the provider's own resources (sessions, connections) at daemon shutdown.
  virtual Status teardown() { return {}; }

  // Checks the configuration (credentials, image, network) at start when -cloud-config-verify
  // is set; an error stops the daemon with a non-zero exit (upstream exits 0 here).
  virtual Status verifyConfig() { return {}; }

  // Whether the pod VM image named by a pod's image annotation may be used when
  // -allowed-images is empty. True for a VM (upstream's behaviour); a provider whose "VM" runs
  // the image on the node itself (docker) accepts only its own configured image then.
  virtual bool acceptsUnlistedImage(const std::string& image) const {
    (void)image;
    return true;
  }

  // Instances carrying the given tag/label value, for orphan sweeps; UNIMPLEMENTED by default.
  virtual Result<std::vector<Instance>> listInstances(const std::string& tag) {
    (void)tag;
    return fail(Code::kUnimplemented, "this provider cannot list instances");
  }
};

}  // namespace pp::providers
