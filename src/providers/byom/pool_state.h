// The pool's allocation state as upstream keeps it in the ConfigMap key "allocation-state"
// (byom/types.go IPAllocationState), so that upstream's adaptor and ours can share a cluster:
// the same JSON field names and layout (Go's MarshalIndent with two spaces), times as
// metav1.Time (RFC 3339, seconds, UTC; null when unset).
//
// Our additions to an allocation, all omitted when empty (Go's decoder ignores them, an
// upstream rewrite drops them): "sandboxID" and "instanceName" (listInstances by sandbox) and
// "drainingSince" (the VM could not be reset at delete: it still runs the old pod and must not
// be handed out until a later delete reaches it).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace pp::providers::byom {

inline constexpr char kStateKey[] = "allocation-state";
// Ours: trust-on-first-use host key fingerprints by IP, a JSON object {"<ip>": "SHA256:..."}.
inline constexpr char kHostKeysKey[] = "ssh-host-keys";

struct IpAllocation {
  std::string allocationId;  // "<pod name>-<sandbox id>"
  std::string ip;
  std::string nodeName;
  std::string podName;
  int64_t allocatedAt = 0;  // unix seconds; 0 = null
  // Ours.
  std::string sandboxId;
  std::string instanceName;
  int64_t drainingSince = 0;  // 0 = not draining
  bool operator==(const IpAllocation&) const = default;
};

struct PoolState {
  std::map<std::string, IpAllocation> allocated;  // by allocation id
  std::vector<std::string> available;
  int64_t lastUpdated = 0;
  int64_t version = 0;
  bool operator==(const PoolState&) const = default;
  // The allocation holding `ip`, or nullptr.
  const IpAllocation* findByIp(std::string_view ip) const;
};

// Go's json.MarshalIndent(state, "", "  ") output for upstream's struct.
std::string toJson(const PoolState& state);
// Strict: the field types must be upstream's; unknown fields are ignored (as Go does). A
// document that is not a state is DATA_LOSS naming what is wrong.
Result<PoolState> parsePoolState(std::string_view json);

// All of `pool` available, nothing allocated.
PoolState freshState(const std::vector<std::string>& pool, int64_t now);
// Upstream's recovery: keeps every allocation, makes available the pool minus what is
// allocated (in pool order), bumps the version.
void recoverAvailable(PoolState& state, const std::vector<std::string>& pool, int64_t now);

// Upstream's choice among `count` available addresses for an allocation id: the first four
// bytes of MD5(id), big-endian, modulo count (0 for count <= 1).
size_t selectIndex(size_t count, std::string_view allocationId);

// metav1.Time's JSON text: "2026-12-02T07:00:00Z".
std::string rfc3339(int64_t unixSeconds);
Result<int64_t> parseRfc3339(std::string_view text);

}  // namespace pp::providers::byom
