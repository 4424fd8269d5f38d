// The peer-pods mutation of a Pod (upstream src/webhook): for pods of
// the target runtime class, the cpu, memory and GPU requests/limits of all containers and init
// containers move into Kata annotations that size the pod VM, and the pod instead requests one
// `kata.peerpods.io/vm` (the per-node pod VM budget the adaptor advertises). Pods of any other
// runtime class are returned unchanged.
//
// Works on the pod's JSON as the API server sent it, so fields this code does not know survive
// untouched (upstream re-encodes the pod through Go structs, which drops unknown fields).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/error.h"

namespace pp::webhook {

inline constexpr std::string_view kCpuAnnotation =
    "io.katacontainers.config.hypervisor.default_vcpus";
inline constexpr std::string_view kMemoryAnnotation =
    "io.katacontainers.config.hypervisor.default_memory";
inline constexpr std::string_view kGpuAnnotation =
    "io.katacontainers.config.hypervisor.default_gpus";
inline constexpr std::string_view kGpuResource = "nvidia.com/gpu";
inline constexpr std::string_view kDefaultRuntimeClass = "kata-remote";
inline constexpr std::string_view kDefaultExtendedResource = "kata.peerpods.io/vm";

struct MutatorConfig {
  // TARGET_RUNTIMECLASS: only pods with this spec.runtimeClassName are mutated.
  std::string targetRuntimeClass{kDefaultRuntimeClass};
  // POD_VM_EXTENDED_RESOURCE: requested (and limited) as "1" on the first container.
  std::string extendedResource{kDefaultExtendedResource};
};

struct Mutation {
  // The pod uses the target runtime class (otherwise `pod` is the input unchanged).
  bool targeted = false;
  nlohmann::json pod;
  // The sizing annotations that were set, for logs and tests.
  std::map<std::string, std::string> annotations;
};

// INVALID_ARGUMENT when the pod is not a JSON object or, for a targeted pod, when the fields the
// mutation reads or writes have the wrong shape (no containers, a non-object resources, a
// quantity that does not parse). The message names the field.
Result<Mutation> mutatePod(const nlohmann::json& pod, const MutatorConfig& config);

}  // namespace pp::webhook
