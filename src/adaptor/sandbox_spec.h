// What a CreateVM call says about its sandbox: the CRI and Kata annotations the shim passes, read
// into a sandbox id, pod name and namespace, instance name and instance spec, each checked the
// way the adaptor refuses bad input (INVALID_ARGUMENT naming the annotation).
#pragma once

#include <map>
#include <string>

#include "base/error.h"
#include "providers/provider.h"

namespace pp::adaptor {

using Annotations = std::map<std::string, std::string>;

// The pod's name and namespace (containerd and CRI-O both pass them).
inline constexpr char kSandboxNameAnnotation[] = "io.kubernetes.cri.sandbox-name";
inline constexpr char kSandboxNamespaceAnnotation[] = "io.kubernetes.cri.sandbox-namespace";
// Kata's hypervisor annotations: <prefix>machine_type, default_vcpus, image, cc_init_data, ...
inline constexpr char kHypervisorAnnotationPrefix[] = "io.katacontainers.config.hypervisor.";

// The value of an annotation, "" when absent.
std::string annotation(const Annotations& annotations, const std::string& key);
// The value of a Kata hypervisor annotation (`name` without the prefix), "" when absent.
std::string hypervisorAnnotation(const Annotations& annotations, const std::string& name);

// 1 to 128 letters, digits, '-', '_' and '.', starting with a letter or digit: the id names a
// directory under -pods-dir.
Status validateSandboxId(const std::string& id);
// "k8s_<pod>_<ns>_..." (CRI-O) is reduced to the pod name.
std::string podNameFromSandboxName(const std::string& name);
// podvm-<sanitised pod name, ≤48>-<first 8 chars of the sandbox id>, ≤63 chars.
std::string instanceName(const std::string& podName, const std::string& sandboxId);
// Instance type, vCPUs, memory, GPUs and image from the hypervisor annotations; a size that is
// not a non-negative integer is INVALID_ARGUMENT naming the annotation.
Result<providers::InstanceSpec> specFromAnnotations(const Annotations& annotations);
// " (type t3.small)" / " (2 vCPUs, 2048 MiB)" / "" for event messages.
std::string describeSpec(const providers::InstanceSpec& spec);

}  // namespace pp::adaptor
