#include "providers/instance_type.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "base/log.h"
#include "base/strings.h"

namespace pp::providers {
namespace {

using strings::equalsIgnoreCase;

// Go's %q for the plain type names that appear in these messages.
std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::vector<InstanceTypeInfo> sortInstanceTypes(std::vector<InstanceTypeInfo> types) {
  std::stable_sort(types.begin(), types.end(),
                   [](const InstanceTypeInfo& a, const InstanceTypeInfo& b) {
                     if (a.gpus != b.gpus) return a.gpus < b.gpus;
                     if (a.memoryMiB != b.memoryMiB) return a.memoryMiB < b.memoryMiB;
                     return a.vcpus < b.vcpus;
                   });
  return types;
}

Result<std::string> verifyInstanceType(const std::string& type,
                                       const std::vector<std::string>& allowed,
                                       const std::string& defaultType) {
  if (type.empty()) {
    log::info("providers", "using default instance type {}", quote(defaultType));
    return defaultType;
  }
  if (allowed.empty() && type != defaultType) {
    return fail(Code::kInvalidArgument,
                fmt::format("requested instance type ({}) is not default ({}) and supported "
                            "instance types list is empty",
                            quote(type), quote(defaultType)));
  }
  if (!allowed.empty() && std::ranges::find(allowed, type) == allowed.end()) {
    return fail(
        Code::kInvalidArgument,
        fmt::format("requested instance type ({}) is not part of supported instance types list",
                    quote(type)));
  }
  return type;
}

Result<std::string> selectInstanceType(const InstanceSpec& spec, const std::string& defaultType,
                                       const std::vector<std::string>& allowed,
                                       const std::vector<InstanceTypeInfo>& table) {
  const auto sorted = sortInstanceTypes(table);
  auto modelMatches = [&](const InstanceTypeInfo& t) {
    return spec.gpuModel.empty() || t.gpuModel.empty() ||
           equalsIgnoreCase(spec.gpuModel, t.gpuModel);
  };

  std::string chosen;
  if (!spec.instanceType.empty()) {
    chosen = spec.instanceType;
    log::info("providers", "instance type {} selected by the machine_type annotation", chosen);
  } else if (spec.gpus > 0) {
    auto it = std::ranges::find_if(sorted, [&](const InstanceTypeInfo& t) {
      return t.gpus >= spec.gpus && t.vcpus >= spec.vcpus && t.memoryMiB >= spec.memoryMiB &&
             modelMatches(t);
    });
    if (it == sorted.end()) {
      return fail(
          Code::kInvalidArgument,
          fmt::format(
              "failed to get instance type based on GPU, vCPU, and memory annotations: no instance "
              "type found for the given GPUs ({}), vCPUs ({}), and memory ({}){}",
              spec.gpus, spec.vcpus, spec.memoryMiB,
              spec.gpuModel.empty() ? "" : " of model " + quote(spec.gpuModel)));
    }
    chosen = it->name;
    log::info("providers", "instance type {} selected by the GPU annotation", chosen);
  } else if (spec.vcpus != 0 && spec.memoryMiB != 0) {
    auto it = std::ranges::find_if(sorted, [&](const InstanceTypeInfo& t) {
      return t.gpus == 0 && t.memoryMiB >= spec.memoryMiB && t.vcpus >= spec.vcpus;
    });
    if (it == sorted.end()) {
      return fail(
          Code::kInvalidArgument,
          fmt::format(
              "failed to get instance type based on vCPU and memory annotations: no instance type "
              "found for the given vcpus ({}) and memory ({})",
              spec.vcpus, spec.memoryMiB));
    }
    chosen = it->name;
    log::info("providers", "instance type {} selected by the vCPU and memory annotations", chosen);
  }

  auto verified = verifyInstanceType(chosen, allowed, defaultType);
  if (!verified) return fail(std::move(verified.error()).wrap("failed to verify instance type"));
  return verified;
}

}  // namespace pp::providers
