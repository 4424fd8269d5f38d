#include "adaptor/sandbox_spec.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>

namespace pp::adaptor {
namespace {

Result<uint32_t> parseSize(const Annotations& a, const std::string& name) {
  auto it = a.find(kHypervisorAnnotationPrefix + name);
  if (it == a.end() || it->second.empty()) return 0u;
  uint32_t v = 0;
  const auto& s = it->second;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return fail(Code::kInvalidArgument,
                "annotation " + it->first + "=\"" + s + "\" is not a non-negative integer");
  }
  return v;
}

}  // namespace

std::string annotation(const Annotations& a, const std::string& key) {
  auto it = a.find(key);
  return it == a.end() ? std::string() : it->second;
}

std::string hypervisorAnnotation(const Annotations& a, const std::string& name) {
  return annotation(a, kHypervisorAnnotationPrefix + name);
}

Status validateSandboxId(const std::string& id) {
  if (id.empty()) return fail(Code::kInvalidArgument, "CreateVM: sandbox id is empty");
  if (id.size() > 128)
    return fail(Code::kInvalidArgument, "CreateVM: sandbox id is longer than 128 characters");
  if (id[0] == '.' || id[0] == '-') {
    return fail(Code::kInvalidArgument,
                "CreateVM: sandbox id \"" + id + "\" must start with a letter or digit");
  }
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return fail(Code::kInvalidArgument,
                  "CreateVM: sandbox id may only contain letters, digits, '-', '_' and '.'");
    }
  }
  return {};
}

std::string podNameFromSandboxName(const std::string& name) {
  // CRI-O passes "k8s_<pod>_<namespace>_<uid>_<attempt>".
  if (name.rfind("k8s_", 0) == 0) {
    auto rest = name.substr(4);
    auto end = rest.find('_');
    if (end != std::string::npos && end > 0) return rest.substr(0, end);
  }
  return name;
}

std::string instanceName(const std::string& podName, const std::string& sandboxId) {
  std::string pod;
  for (char c : podName) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    pod += (std::isalnum(static_cast<unsigned char>(l)) || l == '-') ? l : '-';
  }
  if (pod.size() > 48) pod.resize(48);
  std::string id = sandboxId.substr(0, 8);
  for (auto& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string name = "podvm-" + pod + "-" + id;
  if (name.size() > 63) name.resize(63);
  return name;
}

Result<providers::InstanceSpec> specFromAnnotations(const Annotations& a) {
  providers::InstanceSpec spec;
  spec.instanceType = hypervisorAnnotation(a, "machine_type");
  spec.image = hypervisorAnnotation(a, "image");
  spec.gpuModel = hypervisorAnnotation(a, "default_gpu_model");
  auto vcpus = parseSize(a, "default_vcpus");
  if (!vcpus) return fail(vcpus.error());
  auto mem = parseSize(a, "default_memory");
  if (!mem) return fail(mem.error());
  auto gpus = parseSize(a, "default_gpus");
  if (!gpus) return fail(gpus.error());
  spec.vcpus = *vcpus;
  spec.memoryMiB = *mem;
  spec.gpus = *gpus;
  return spec;
}

std::string describeSpec(const providers::InstanceSpec& spec) {
  if (!spec.instanceType.empty()) return " (type " + spec.instanceType + ")";
  if (spec.vcpus == 0 && spec.memoryMiB == 0) return "";
  return fmt::format(" ({} vCPUs, {} MiB{})", spec.vcpus, spec.memoryMiB,
                     spec.gpus ? fmt::format(", {} GPUs", spec.gpus) : "");
}

}  // namespace pp::adaptor
