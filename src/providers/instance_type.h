// Instance-type selection shared by the providers that size pod VMs from the pod's annotations
// (aws, azure, ibmcloud, alibabacloud, as upstream's shared sizing does).
//
// Order: an explicit machine_type annotation is used as is; else, with GPUs requested, the
// smallest type with enough GPUs, vCPUs and memory; else, with both vCPUs and memory requested,
// the smallest GPU-less type with enough of both; else the default type. The result is then
// checked against the allow-list.
//
// Deliberate difference: upstream runs Go's sort.Search over a predicate that is not monotone
// in the sort order, so it can miss a fitting type or pick a larger one. We scan linearly and
// return the first fitting type in the same order (GPUs, then memory, then vCPUs, ascending),
// which is what upstream means to do.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "providers/provider.h"

namespace pp::providers {

// What a provider learned about one instance type (DescribeInstanceTypes and friends).
struct InstanceTypeInfo {
  std::string name;
  uint32_t vcpus = 0;
  uint32_t memoryMiB = 0;
  uint32_t gpus = 0;
  std::string gpuModel;  // empty when the cloud does not say
};

// Sorted ascending by GPUs, then memory, then vCPUs; ties keep their configured order.
std::vector<InstanceTypeInfo> sortInstanceTypes(std::vector<InstanceTypeInfo> types);

// Upstream's VerifyCloudInstanceType: "" becomes the default; with an empty allow-list only
// the default is accepted; otherwise the type must be in the allow-list. INVALID_ARGUMENT with
// upstream's wording otherwise.
Result<std::string> verifyInstanceType(const std::string& type,
                                       const std::vector<std::string>& allowed,
                                       const std::string& defaultType);

// Upstream's SelectInstanceTypeToUse followed by the verification above. `table` need not be
// sorted. When the pod names a GPU model, types whose model is known and different are
// skipped (upstream ignores the model; types of unknown model still qualify).
Result<std::string> selectInstanceType(const InstanceSpec& spec, const std::string& defaultType,
                                       const std::vector<std::string>& allowed,
                                       const std::vector<InstanceTypeInfo>& table);

}  // namespace pp::providers
