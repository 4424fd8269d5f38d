#include "adaptor/sandbox_state.h"

#include <filesystem>

#include "base/files.h"

namespace pp::adaptor {

std::string_view phaseName(Phase p) {
  switch (p) {
    case Phase::kCreated:
      return "created";
    case Phase::kStarting:
      return "starting";
    case Phase::kRunning:
      return "running";
    case Phase::kStopping:
      return "stopping";
    case Phase::kFailed:
      return "failed";
  }
  return "unknown";
}

Result<Phase> parsePhase(std::string_view name) {
  for (Phase p :
       {Phase::kCreated, Phase::kStarting, Phase::kRunning, Phase::kStopping, Phase::kFailed}) {
    if (phaseName(p) == name) return p;
  }
  return fail(Code::kInvalidArgument, "unknown sandbox phase \"" + std::string(name) + "\"");
}

nlohmann::json SandboxState::toJson() const {
  nlohmann::json j{
      {"version", 1},
      {"id", id},
      {"phase", phaseName(phase)},
      {"podName", podName},
      {"podNamespace", podNamespace},
      {"netnsPath", netnsPath},
      {"spec",
       {{"instanceType", spec.instanceType},
        {"vcpus", spec.vcpus},
        {"memoryMiB", spec.memoryMiB},
        {"gpus", spec.gpus},
        {"gpuModel", spec.gpuModel},
        {"image", spec.image},
        {"multiNic", spec.multiNic}}},
      {"instanceName", instanceName},
      {"instanceId", instanceId},
      {"ips", ips},
      {"network", network ? network->toJson() : nlohmann::json()},
      {"vni", vni()},
      {"userData", userData},
      {"tls", {{"caCert", caCertPem}, {"clientCert", clientCertPem}, {"clientKey", clientKeyPem}}},
      {"podUid", podUid},
      {"peerPodName", peerPodName},
      {"createdAt", createdAt},
      {"startedAt", startedAt},
      {"lastError", lastError},
  };
  if (instanceUnknown) j["instanceUnknown"] = true;  // only while it is so
  return j;
}

Result<SandboxState> SandboxState::fromJson(const nlohmann::json& j) {
  try {
    SandboxState s;
    if (!j.is_object()) return fail(Code::kInvalidArgument, "state is not a JSON object");
    s.id = j.at("id").get<std::string>();
    auto phase = parsePhase(j.at("phase").get<std::string>());
    if (!phase) return fail(phase.error());
    s.phase = *phase;
    s.podName = j.at("podName").get<std::string>();
    s.podNamespace = j.at("podNamespace").get<std::string>();
    s.netnsPath = j.value("netnsPath", "");
    const auto& spec = j.at("spec");
    s.spec.instanceType = spec.value("instanceType", "");
    s.spec.vcpus = spec.value("vcpus", 0u);
    s.spec.memoryMiB = spec.value("memoryMiB", 0u);
    s.spec.gpus = spec.value("gpus", 0u);
    s.spec.gpuModel = spec.value("gpuModel", "");
    s.spec.image = spec.value("image", "");
    s.spec.multiNic = spec.value("multiNic", false);
    s.instanceName = j.value("instanceName", "");
    s.instanceId = j.value("instanceId", "");
    s.ips = j.value("ips", std::vector<std::string>{});
    // "vni" is written for readers of the file; the config's "vxlan-id" is the one kept.
    if (auto network = j.value("network", nlohmann::json()); !network.is_null()) {
      auto config = podnetwork::PodNetworkConfig::fromJson(network);
      if (!config) return fail(config.error().wrap("network"));
      s.network = std::move(*config);
    }
    s.userData = j.value("userData", "");
    if (j.contains("tls")) {
      const auto& t = j.at("tls");
      s.caCertPem = t.value("caCert", "");
      s.clientCertPem = t.value("clientCert", "");
      s.clientKeyPem = t.value("clientKey", "");
    }
    s.podUid = j.value("podUid", "");
    s.peerPodName = j.value("peerPodName", "");
    s.createdAt = j.value("createdAt", int64_t{0});
    s.startedAt = j.value("startedAt", int64_t{0});
    s.lastError = j.value("lastError", "");
    s.instanceUnknown = j.value("instanceUnknown", false);
    return s;
  } catch (const nlohmann::json::exception& e) {
    return fail(Code::kInvalidArgument, std::string("bad sandbox state: ") + e.what());
  }
}

Status FileStateStore::save(const SandboxState& state, files::Durability durability) {
  auto dir = sandboxDir(state.id);
  if (auto st = files::makeDirs(dir, 0700); !st) return st;
  const std::string content = state.toJson().dump(2) + "\n";
  if (durability == files::Durability::kReplaceOnly)
    return files::writeAtomic(dir + "/state.json", content, 0600, durability);
  // Rewritten at every phase (several times per pod start), one writer at a time: the
  // sandbox's lock in SandboxManager.
  return files::rewriteDurably(dir + "/state.json", content, 0600);
}

Status FileStateStore::remove(const std::string& id) {
  return files::removeAll(sandboxDir(id));
}

std::vector<SandboxState> FileStateStore::loadAll(std::vector<std::string>* problems) {
  std::vector<SandboxState> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(podsDir_, ec)) return out;
  for (const auto& entry : std::filesystem::directory_iterator(podsDir_, ec)) {
    if (!entry.is_directory()) continue;
    auto path = entry.path() / "state.json";
    if (!std::filesystem::exists(path)) continue;
    auto text = files::readFile(path.string(), 4u << 20);
    if (!text) {
      if (problems) problems->push_back(text.error().message);
      continue;
    }
    auto json = nlohmann::json::parse(*text, nullptr, false);
    if (json.is_discarded()) {
      if (problems) problems->push_back(path.string() + ": not valid JSON");
      continue;
    }
    auto state = SandboxState::fromJson(json);
    if (!state) {
      if (problems) problems->push_back(path.string() + ": " + state.error().message);
      continue;
    }
    if (state->id != entry.path().filename().string()) {
      if (problems) problems->push_back(path.string() + ": id does not match its directory");
      continue;
    }
    out.push_back(std::move(*state));
  }
  return out;
}

}  // namespace pp::adaptor
