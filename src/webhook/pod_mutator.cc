// Sums the pod's resources, writes the sizing annotations and swaps every container's resources
// for the pod VM extended resource, with the rules of upstream's adjustResourceSpec.
#include "webhook/pod_mutator.h"

#include <fmt/format.h>

#include "webhook/quantity.h"

namespace pp::webhook {
namespace {

using nlohmann::json;

Status invalid(std::string message) {
  return fail(Code::kInvalidArgument, std::move(message));
}

// Running totals of requests and limits, upstream's GetResource{Request,Limit}Quantity: a plain
// sum over containers and init containers (not the scheduler's max rule), overhead ignored.
struct Totals {
  Quantity cpuRequest{Quantity::Format::kDecimalSI};
  Quantity cpuLimit{Quantity::Format::kDecimalSI};
  Quantity memoryRequest{Quantity::Format::kBinarySI};
  Quantity memoryLimit{Quantity::Format::kBinarySI};
  Quantity gpuRequest{Quantity::Format::kDecimalSI};
};

// Adds list[name] (a quantity string, or a JSON number as Quantity's decoder accepts) to *sum.
Status addQuantity(const json& list, std::string_view name, const std::string& where,
                   Quantity* sum) {
  auto it = list.find(name);
  if (it == list.end()) return {};
  std::string text;
  if (it->is_string()) {
    text = it->get<std::string>();
  } else if (it->is_number()) {
    text = it->dump();
  } else {
    return invalid(fmt::format("{}.{} must be a quantity string", where, name));
  }
  auto q = Quantity::parse(text);
  if (!q) return invalid(fmt::format("{}.{}: {}", where, name, q.error().message));
  if (auto st = sum->add(*q); !st) return invalid(fmt::format("{}: {}", where, st.error().message));
  return {};
}

const json* objectField(const json& parent, std::string_view name, const std::string& where,
                        Status* st) {
  auto it = parent.find(name);
  if (it == parent.end() || it->is_null()) return nullptr;
  if (!it->is_object()) *st = invalid(fmt::format("{}.{} must be an object", where, name));
  return it->is_object() ? &*it : nullptr;
}

Status addContainer(const json& container, const std::string& where, Totals* totals) {
  if (!container.is_object()) return invalid(where + " must be an object");
  Status st;
  const json* resources = objectField(container, "resources", where, &st);
  if (!st) return st;
  if (!resources) return {};
  std::string rwhere = where + ".resources";
  const json* requests = objectField(*resources, "requests", rwhere, &st);
  if (!st) return st;
  const json* limits = objectField(*resources, "limits", rwhere, &st);
  if (!st) return st;
  if (requests) {
    std::string w = rwhere + ".requests";
    if (st = addQuantity(*requests, "cpu", w, &totals->cpuRequest); !st) return st;
    if (st = addQuantity(*requests, "memory", w, &totals->memoryRequest); !st) return st;
    if (st = addQuantity(*requests, kGpuResource, w, &totals->gpuRequest); !st) return st;
  }
  if (limits) {
    std::string w = rwhere + ".limits";
    if (st = addQuantity(*limits, "cpu", w, &totals->cpuLimit); !st) return st;
    if (st = addQuantity(*limits, "memory", w, &totals->memoryLimit); !st) return st;
  }
  return {};
}

// The limit when there is a request and the limit is at least the request, else the request
// when positive; nullptr when neither applies (no annotation).
const Quantity* chooseLimitOrRequest(const Quantity& request, const Quantity& limit) {
  if (!request.isZero() && limit.compare(request) >= 0) return &limit;
  if (request.sign() > 0) return &request;
  return nullptr;
}

// Empties a container's resources as upstream does (ResourceRequirements{}), except `claims`:
// dynamic resource claims are not sizing and dropping them would break the pod's claim
// references.
void clearResources(json& container) {
  json cleared = json::object();
  if (auto it = container.find("resources"); it != container.end() && it->is_object()) {
    if (auto claims = it->find("claims"); claims != it->end()) cleared["claims"] = *claims;
  }
  container["resources"] = std::move(cleared);
}

}  // namespace

Result<Mutation> mutatePod(const json& pod, const MutatorConfig& config) {
  if (!pod.is_object()) return fail(Code::kInvalidArgument, "the pod is not a JSON object");
  Mutation result;
  result.pod = pod;
  auto spec = pod.find("spec");
  if (spec != pod.end() && !spec->is_null() && !spec->is_object()) {
    return fail(Code::kInvalidArgument, "pod spec must be an object");
  }
  if (spec == pod.end() || !spec->is_object()) return result;
  auto rc = spec->find("runtimeClassName");
  if (rc == spec->end() || !rc->is_string() ||
      rc->get<std::string>() != config.targetRuntimeClass) {
    return result;
  }
  result.targeted = true;

  auto containers = spec->find("containers");
  if (containers == spec->end() || !containers->is_array() || containers->empty()) {
    return fail(Code::kInvalidArgument, "spec.containers must list at least one container");
  }
  auto initContainers = spec->find("initContainers");
  bool hasInit = initContainers != spec->end() && !initContainers->is_null();
  if (hasInit && !initContainers->is_array()) {
    return fail(Code::kInvalidArgument, "spec.initContainers must be a list");
  }
  Totals totals;
  for (size_t i = 0; i < containers->size(); ++i) {
    if (auto st = addContainer((*containers)[i], fmt::format("spec.containers[{}]", i), &totals);
        !st) {
      return fail(st.error());
    }
  }
  if (hasInit) {
    for (size_t i = 0; i < initContainers->size(); ++i) {
      if (auto st = addContainer((*initContainers)[i], fmt::format("spec.initContainers[{}]", i),
                                 &totals);
          !st) {
        return fail(st.error());
      }
    }
  }

  if (const Quantity* cpu = chooseLimitOrRequest(totals.cpuRequest, totals.cpuLimit)) {
    result.annotations[std::string(kCpuAnnotation)] = int128ToString(cpu->ceilUnits());
  }
  if (const Quantity* memory = chooseLimitOrRequest(totals.memoryRequest, totals.memoryLimit)) {
    result.annotations[std::string(kMemoryAnnotation)] = int128ToString(memory->ceilMiB());
  }
  if (totals.gpuRequest.sign() > 0) {
    result.annotations[std::string(kGpuAnnotation)] = totals.gpuRequest.toString();
  }

  json& out = result.pod;
  if (!result.annotations.empty()) {
    json& metadata = out["metadata"];
    if (metadata.is_null()) metadata = json::object();
    if (!metadata.is_object())
      return fail(Code::kInvalidArgument, "pod metadata must be an object");
    json& annotations = metadata["annotations"];
    if (annotations.is_null()) annotations = json::object();
    if (!annotations.is_object())
      return fail(Code::kInvalidArgument, "metadata.annotations must be an object");
    for (const auto& [key, value] : result.annotations) annotations[key] = value;
  }

  json& outSpec = out["spec"];
  for (auto& c : outSpec["containers"]) clearResources(c);
  if (hasInit) {
    for (auto& c : outSpec["initContainers"]) clearResources(c);
  }
  json& first = outSpec["containers"][0]["resources"];
  first["requests"] = json{{config.extendedResource, "1"}};
  first["limits"] = json{{config.extendedResource, "1"}};
  return result;
}

}  // namespace pp::webhook
