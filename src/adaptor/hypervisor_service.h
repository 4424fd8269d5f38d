// The ttrpc services on -socket: hypervisor.Hypervisor (CreateVM, StartVM, StopVM, Version)
// and podvminfo.PodVMInfo (GetInfo). Handlers run the blocking SandboxManager calls on a
// worker pool (an ElasticPool: a thread per call in flight, up to -provider-workers) so that
// the I/O thread keeps serving other sandboxes and no call queues behind busy workers.
#pragma once

#include "adaptor/sandbox_manager.h"
#include "base/elastic_pool.h"
#include "ttrpc/server.h"

namespace pp::adaptor {

class HypervisorService {
 public:
  HypervisorService(SandboxManager& manager, ElasticPool& workers)
      : manager_(manager), workers_(workers) {}
  void registerWith(ttrpc::Server& server);

 private:
  SandboxManager& manager_;
  ElasticPool& workers_;
};

}  // namespace pp::adaptor
