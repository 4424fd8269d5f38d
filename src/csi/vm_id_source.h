// Where the node wrapper learns a pod's VM ID: the adaptor's podvminfo.PodVMInfo/GetInfo
// (ttrpc) on its socket (--vm-id-information-endpoint, /run/peerpod/hypervisor.sock).
#pragma once

#include <memory>
#include <string>

#include "base/error.h"

namespace pp::ttrpc {
class IoThread;
}

namespace pp::csi {

class VmIdSource {
 public:
  virtual ~VmIdSource() = default;
  virtual Result<std::string> vmId(const std::string& podName, const std::string& podNamespace) = 0;
};

class PodVmInfoClient : public VmIdSource {
 public:
  explicit PodVmInfoClient(std::string socketPath);
  ~PodVmInfoClient() override;
  // GetInfo{PodName, PodNamespace, Wait: false} over a new connection (a call is rare: once
  // per volume and pod VM), bounded by 30 s.
  Result<std::string> vmId(const std::string& podName, const std::string& podNamespace) override;

 private:
  std::string socketPath_;
  std::unique_ptr<ttrpc::IoThread> io_;
};

}  // namespace pp::csi
