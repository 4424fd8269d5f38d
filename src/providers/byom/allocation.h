// Allocation changes of the pool state, each one read-modify-write through PoolStore::update
// (so redone from a fresh read after a conflict with another node).
#pragma once

#include <cstdint>
#include <string>

#include "base/error.h"
#include "providers/byom/pool_store.h"

namespace pp::providers::byom {

struct AllocationRequest {
  std::string allocationId;  // upstream's "<pod name>-<sandbox id>"
  std::string podName;
  std::string sandboxId;
  std::string instanceName;
  std::string nodeName;
  int64_t now = 0;
};

struct Allocated {
  std::string ip;
  bool reused = false;  // the allocation id held it already (a retried create)
};

// The allocation id's existing VM, else upstream's hash choice among the available ones.
// RESOURCE_EXHAUSTED when none is available.
Result<Allocated> allocateIp(const PoolStore& store, const AllocationRequest& request);
// Returns `ip` to the pool if `allocationId` still holds it (else nothing to do).
Status releaseIp(const PoolStore& store, const std::string& allocationId, const std::string& ip,
                 int64_t now);
// Marks the allocation as draining (kept, not handed out) unless it is already.
Status markDraining(const PoolStore& store, const std::string& allocationId, int64_t now);

}  // namespace pp::providers::byom
