// The interface every cloud provider implements (upstream-providers.md §1).
// Calls are blocking; the adaptor runs them on its worker pool, never on an I/O thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"

namespace pp::providers {

// What the pod asked for, from the CreateVM annotations.
struct InstanceSpec {
  std::string instanceType;  // io.katacontainers.config.hypervisor.machine_type
  uint32_t vcpus = 0;        // default_vcpus
  uint32_t memoryMiB = 0;    // default_memory
  uint32_t gpus = 0;         // default_gpus
  std::string gpuModel;      // default_gpu_model
  std::string image;         // io.katacontainers.config.hypervisor.image
  bool multiNic = false;     // -ext-network-via-podvm
};

struct Instance {
  std::string id;
  std::string name;
  std::vector<std::string> ips;  // first one is where the forwarder listens
};

struct CreateRequest {
  std::string podName;
  std::string podNamespace;
  std::string sandboxId;
  std::string instanceName;
  std::string userData;  // #cloud-config document
  InstanceSpec spec;
};

class Provider {
 public:
  virtual ~Provider() = default;
  // Creates and boots the pod VM; returns once its IP addresses are known. On failure after
  // the instance was created, the provider deletes it before returning the error.
  virtual Result<Instance> createInstance(const CreateRequest& request) = 0;
  // Deletes an instance; one that is already gone is success.
  virtual Status deleteInstance(const std::string& id) = 0;
  // Releases the provider's own resources at shutdown.
  virtual Status teardown() { return {}; }
  // Checks the configuration (credentials, image, network) at start (-cloud-config-verify).
  virtual Status verifyConfig() { return {}; }
  // Instances carrying the given tag/label value (orphan sweeps); UNIMPLEMENTED by default.
  virtual Result<std::vector<Instance>> listInstances(const std::string& tag) {
    (void)tag;
    return fail(Code::kUnimplemented, "this provider cannot list instances");
  }
};

}  // namespace pp::providers
