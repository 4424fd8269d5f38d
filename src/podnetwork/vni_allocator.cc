#include "podnetwork/vni_allocator.h"

#include <fmt/format.h>

namespace pp::podnetwork {

Result<std::unique_ptr<VniAllocator>> VniAllocator::create(uint32_t minId) {
  if (minId > kMaxVni) {
    return fail(Code::kInvalidArgument,
                fmt::format("vxlan minimum ID {} is not between 0 and {}", minId, kMaxVni));
  }
  return std::unique_ptr<VniAllocator>(new VniAllocator(minId));
}

Result<uint32_t> VniAllocator::allocate() {
  std::lock_guard lock(mutex_);
  const uint64_t rangeSize = uint64_t{kMaxVni} - minId_ + 1;
  // Round-robin from just after the last VNI handed out, so a released VNI waits for the rest of
  // the range before it comes back.
  uint32_t candidate = next_;
  for (uint64_t tried = 0; tried < rangeSize; ++tried) {
    if (!used_.contains(candidate)) {
      used_.insert(candidate);
      next_ = candidate == kMaxVni ? minId_ : candidate + 1;
      return candidate;
    }
    candidate = candidate == kMaxVni ? minId_ : candidate + 1;
  }
  return fail(Code::kResourceExhausted,
              fmt::format("all {} VNIs from {} to {} are in use", rangeSize, minId_, kMaxVni));
}

Status VniAllocator::reserve(uint32_t vni) {
  if (vni > kMaxVni) {
    return fail(Code::kInvalidArgument,
                fmt::format("VNI {} is not between 0 and {}", vni, kMaxVni));
  }
  std::lock_guard lock(mutex_);
  if (!used_.insert(vni).second) {
    return fail(Code::kAlreadyExists, fmt::format("VNI {} is already in use", vni));
  }
  // Carry on after the highest reloaded VNI, as a restarted adaptor that never stopped would.
  if (vni >= minId_ && vni >= next_) next_ = vni == kMaxVni ? minId_ : vni + 1;
  return {};
}

void VniAllocator::release(uint32_t vni) {
  std::lock_guard lock(mutex_);
  used_.erase(vni);
}

bool VniAllocator::inUse(uint32_t vni) const {
  std::lock_guard lock(mutex_);
  return used_.contains(vni);
}

size_t VniAllocator::inUseCount() const {
  std::lock_guard lock(mutex_);
  return used_.size();
}

}  // namespace pp::podnetwork
