#include "providers/byom/allocation.h"

#include <algorithm>

namespace pp::providers::byom {

Result<Allocated> allocateIp(const PoolStore& store, const AllocationRequest& r) {
  Allocated out;
  size_t held = 0, draining = 0;
  auto st = store.update([&](PoolStore::Snapshot& s, bool& write) -> Status {
    out = {};
    if (auto it = s.state.allocated.find(r.allocationId); it != s.state.allocated.end()) {
      out.ip = it->second.ip;
      out.reused = true;
      return {};
    }
    if (s.state.available.empty()) {
      held = s.state.allocated.size();
      draining = 0;
      for (const auto& [id, a] : s.state.allocated) draining += a.drainingSince != 0;
      return fail(Code::kResourceExhausted,
                  "byom: no VM available in the pool (" + std::to_string(held) + " allocated, " +
                      std::to_string(draining) + " of them draining); add VMs to -vm-pool-ips");
    }
    size_t index = selectIndex(s.state.available.size(), r.allocationId);
    out.ip = s.state.available[index];
    s.state.available.erase(s.state.available.begin() + static_cast<std::ptrdiff_t>(index));
    IpAllocation a;
    a.allocationId = r.allocationId;
    a.ip = out.ip;
    a.nodeName = r.nodeName;
    a.podName = r.podName;
    a.allocatedAt = r.now;
    a.sandboxId = r.sandboxId;
    a.instanceName = r.instanceName;
    s.state.allocated[r.allocationId] = std::move(a);
    s.state.lastUpdated = r.now;
    ++s.state.version;
    write = true;
    return {};
  });
  if (!st) return fail(st.error());
  return out;
}

Status releaseIp(const PoolStore& store, const std::string& allocationId, const std::string& ip,
                 int64_t now) {
  return store.update([&](PoolStore::Snapshot& s, bool& write) -> Status {
    auto it = s.state.allocated.find(allocationId);
    if (it == s.state.allocated.end() || it->second.ip != ip) return {};
    s.state.allocated.erase(it);
    if (std::find(s.state.available.begin(), s.state.available.end(), ip) ==
        s.state.available.end())
      s.state.available.push_back(ip);
    s.state.lastUpdated = now;
    ++s.state.version;
    write = true;
    return {};
  });
}

Status markDraining(const PoolStore& store, const std::string& allocationId, int64_t now) {
  return store.update([&](PoolStore::Snapshot& s, bool& write) -> Status {
    auto it = s.state.allocated.find(allocationId);
    if (it == s.state.allocated.end() || it->second.drainingSince != 0) return {};
    it->second.drainingSince = now;
    s.state.lastUpdated = now;
    ++s.state.version;
    write = true;
    return {};
  });
}

}  // namespace pp::providers::byom
