// VNI allocation for the node side of the pod network (the adaptor owns one allocator).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>

#include "base/error.h"
#include "podnetwork/config.h"

namespace pp::podnetwork {

inline constexpr uint32_t kDefaultVxlanMinId = 555000;

// Hands out VXLAN network identifiers from [minId, 2^24-1]. A VNI is never handed out while it
// is in use; after an adaptor restart the sandbox manager reserve()s the VNIs it reloads from
// saved sandbox state so new pods do not collide with pods that outlived the restart (upstream
// restarts its counter at minId). Released VNIs are reused only after the rest of the range has
// been tried, so a VNI whose old VM may still be sending is not recycled at once. Thread-safe.
class VniAllocator {
 public:
  static Result<std::unique_ptr<VniAllocator>> create(uint32_t minId = kDefaultVxlanMinId);

  uint32_t minId() const { return minId_; }
  Result<uint32_t> allocate();
  // Marks a VNI taken (any valid VNI, also below minId: it is in use whatever our range is).
  // ALREADY_EXISTS if it is already taken, which means two sandboxes claim the same tunnel.
  Status reserve(uint32_t vni);
  // Releasing a VNI that is not taken is a no-op, so teardown can be repeated.
  void release(uint32_t vni);
  bool inUse(uint32_t vni) const;
  size_t inUseCount() const;

 private:
  explicit VniAllocator(uint32_t minId) : minId_(minId), next_(minId) {}
  const uint32_t minId_;
  mutable std::mutex mutex_;
  std::set<uint32_t> used_;
  uint32_t next_;
};

}  // namespace pp::podnetwork
