#include "csi/state_machine.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>

#include "base/random.h"
#include "csi/names.h"

namespace pp::csi {

std::string specOf(const Json& volume, std::string_view key) {
  auto spec = volume.find("spec");
  if (spec == volume.end() || !spec->is_object()) return "";
  auto v = spec->find(key);
  return v != spec->end() && v->is_string() ? v->get<std::string>() : "";
}

std::string stateOf(const Json& volume) {
  auto status = volume.find("status");
  if (status == volume.end() || !status->is_object()) return "";
  auto v = status->find("state");
  return v != status->end() && v->is_string() ? v->get<std::string>() : "";
}

std::string labelOf(const Json& volume, std::string_view key) {
  auto meta = volume.find("metadata");
  if (meta == volume.end() || !meta->is_object()) return "";
  auto labels = meta->find("labels");
  if (labels == meta->end() || !labels->is_object()) return "";
  auto v = labels->find(key);
  return v != labels->end() && v->is_string() ? v->get<std::string>() : "";
}

void setSpec(Json& volume, const std::string& key, const std::string& value) {
  if (!volume["spec"].is_object()) volume["spec"] = Json::object();
  volume["spec"][key] = value;
}

void setLabel(Json& volume, const std::string& key, const std::string& value) {
  Json& meta = volume["metadata"];
  if (!meta.is_object()) meta = Json::object();
  if (!meta["labels"].is_object()) meta["labels"] = Json::object();
  meta["labels"][key] = value;
}

Json newVolume(const std::string& ns, const std::string& name, const std::string& volumeName) {
  return Json{
      {"apiVersion", "confidentialcontainers.org/v1alpha1"},
      {"kind", "PeerpodVolume"},
      {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"volumeName", volumeName}}}}},
      {"spec", {{"volumeID", name}, {"volumeName", volumeName}}}};
}

std::map<std::string, std::string> fakePublishContext(const std::string& volumeId,
                                                      const std::string& requestId) {
  return {{kPublishVolumeId, volumeId},
          {kPublishNodeId, ""},
          {kPublishStatus, "attached"},
          {kPublishDevicePath, "/dev/fff"},
          {kPublishRequestId, requestId}};
}

std::string newRequestId() {
  return rnd::uuidV4();
}

ControllerAction controllerAction(const Json& volume) {
  if (stateOf(volume) == state::kPeerPodVSIIDReady && specOf(volume, "devicePath").empty()) {
    return ControllerAction::kReplayPublish;
  }
  return ControllerAction::kNone;
}

NodeAction nodeAction(const Json& volume, std::string_view podNodeName) {
  if (specOf(volume, "nodeName") != podNodeName) return NodeAction::kNone;
  return stateOf(volume) == state::kPeerPodVSIRunning ? NodeAction::kFetchVmId : NodeAction::kNone;
}

PodVmAction podVmAction(const Json& volume, std::string_view podName,
                        std::string_view podNamespace) {
  if (specOf(volume, "podName") != podName || specOf(volume, "podNamespace") != podNamespace) {
    return PodVmAction::kNone;
  }
  std::string s = stateOf(volume);
  if (s == state::kControllerPublishVolumeApplied) return PodVmAction::kReplayStage;
  if (s == state::kNodeStageVolumeApplied) return PodVmAction::kReplayPublish;
  if (s == state::kNodeUnpublishVolumeCached) return PodVmAction::kReplayUnpublish;
  if (s == state::kNodeUnstageVolumeCached) return PodVmAction::kReplayUnstage;
  return PodVmAction::kNone;
}

namespace {

template <typename Message>
Result<Message> cached(const Json& volume, const char* key) {
  std::string text = specOf(volume, key);
  if (text.empty())
    return fail(Code::kFailedPrecondition, std::string("spec.") + key + " is empty");
  Message m;
  if (auto s = fromJson(text, &m); !s) return fail(s.error().wrap(std::string("spec.") + key));
  return m;
}

}  // namespace

Result<::csi::v1::ControllerPublishVolumeRequest> controllerPublishReplay(const Json& volume) {
  std::string vmId = specOf(volume, "vmID");
  if (vmId.empty()) return fail(Code::kFailedPrecondition, "spec.vmID is empty");
  auto req = cached<::csi::v1::ControllerPublishVolumeRequest>(volume,
                                                               "wrapperControllerPublishVolumeReq");
  if (!req) return req;
  req->set_node_id(nodeIdForVm(vmId));
  return req;
}

::csi::v1::ControllerUnpublishVolumeRequest controllerUnpublishForVm(
    ::csi::v1::ControllerUnpublishVolumeRequest request, const Json& volume) {
  request.set_node_id(specOf(volume, "vmID"));
  return request;
}

namespace {

// The publish context of the real attach (the cached ControllerPublishVolumeResponse's, and
// device-path = spec.devicePath) in place of the fake one the node side was given.
Status setRealPublishContext(const Json& volume,
                             google::protobuf::Map<std::string, std::string>* ctx) {
  ::csi::v1::ControllerPublishVolumeResponse real;
  if (std::string res = specOf(volume, "wrapperControllerPublishVolumeRes"); !res.empty()) {
    if (auto s = fromJson(res, &real); !s) {
      return fail(s.error().wrap("spec.wrapperControllerPublishVolumeRes"));
    }
  }
  ctx->clear();
  for (const auto& [k, v] : real.publish_context()) (*ctx)[k] = v;
  (*ctx)[kPublishDevicePath] = specOf(volume, "devicePath");
  return {};
}

}  // namespace

Result<::csi::v1::NodeStageVolumeRequest> nodeStageReplay(const Json& volume) {
  auto req = cached<::csi::v1::NodeStageVolumeRequest>(volume, "wrapperNodeStageVolumeReq");
  if (!req) return req;
  if (auto s = setRealPublishContext(volume, req->mutable_publish_context()); !s) {
    return fail(s.error());
  }
  return req;
}

Result<::csi::v1::NodePublishVolumeRequest> nodePublishReplay(const Json& volume) {
  auto req = cached<::csi::v1::NodePublishVolumeRequest>(volume, "wrapperNodePublishVolumeReq");
  if (!req) return req;
  if (auto s = setRealPublishContext(volume, req->mutable_publish_context()); !s) {
    return fail(s.error());
  }
  return req;
}

Result<::csi::v1::NodeUnpublishVolumeRequest> nodeUnpublishReplay(const Json& volume) {
  return cached<::csi::v1::NodeUnpublishVolumeRequest>(volume, "wrapperNodeUnpublishVolumeReq");
}

Result<::csi::v1::NodeUnstageVolumeRequest> nodeUnstageReplay(const Json& volume) {
  return cached<::csi::v1::NodeUnstageVolumeRequest>(volume, "wrapperNodeUnstageVolumeReq");
}

Json resetVolume(Json volume) {
  std::string volumeName = specOf(volume, "volumeName");
  std::string volumeId = specOf(volume, "volumeID");
  volume["metadata"]["labels"] = Json{{"volumeName", volumeName}};
  Json spec =
      volume.contains("spec") && volume["spec"].is_object() ? volume["spec"] : Json::object();
  for (auto& [key, value] : spec.items()) {
    if (value.is_string()) value = "";
  }
  spec["volumeID"] = volumeId;
  spec["volumeName"] = volumeName;
  volume["spec"] = spec;
  return volume;
}

Json claimVolume(Json volume, const std::string& podName, const std::string& podNamespace,
                 const std::string& podNodeName) {
  setSpec(volume, "podName", podName);
  setSpec(volume, "podNamespace", podNamespace);
  setSpec(volume, "nodeName", podNodeName);
  setLabel(volume, "podName", podName);
  setLabel(volume, "podNamespace", podNamespace);
  setLabel(volume, "podNodeName", podNodeName);
  return volume;
}

std::string toJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

Status fromJson(std::string_view json, google::protobuf::Message* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // a newer peer's fields
  auto st = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), message, options);
  if (!st.ok()) {
    return fail(Code::kInvalidArgument, "not a " + message->GetTypeName() + " in JSON: " +
                                            std::string(st.message().data(), st.message().size()));
  }
  return {};
}

}  // namespace pp::csi
