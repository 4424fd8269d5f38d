#include "csi/state_machine.h"

#include <gtest/gtest.h>

namespace pp::csi {
namespace {

Json volumeIn(const std::string& state, Json spec = Json::object()) {
  Json v = newVolume("kube-system", "vol-1", "pvc-1");
  for (auto& [k, val] : spec.items()) v["spec"][k] = val;
  v["status"] = Json{{"state", state}};
  return v;
}

TEST(CsiStateMachine, WhoActsOnWhichState) {
  EXPECT_EQ(controllerAction(volumeIn(state::kPeerPodVSIIDReady)),
            ControllerAction::kReplayPublish);
  // Already attached (device path recorded): no second replay.
  EXPECT_EQ(controllerAction(volumeIn(state::kPeerPodVSIIDReady, {{"devicePath", "/dev/xvdf"}})),
            ControllerAction::kNone);
  for (const char* s :
       {state::kPeerPodVSIRunning, state::kControllerPublishVolumeCached,
        state::kNodePublishVolumeCached, state::kControllerPublishVolumeApplied, ""}) {
    EXPECT_EQ(controllerAction(volumeIn(s)), ControllerAction::kNone) << s;
  }

  Json running = volumeIn(state::kPeerPodVSIRunning, {{"nodeName", "worker-1"}});
  EXPECT_EQ(nodeAction(running, "worker-1"), NodeAction::kFetchVmId);
  EXPECT_EQ(nodeAction(running, "worker-2"), NodeAction::kNone);  // another node's
  EXPECT_EQ(nodeAction(volumeIn(state::kPeerPodVSIIDReady, {{"nodeName", "worker-1"}}), "worker-1"),
            NodeAction::kNone);

  Json mine = {{"podName", "app"}, {"podNamespace", "ns1"}};
  EXPECT_EQ(podVmAction(volumeIn(state::kControllerPublishVolumeApplied, mine), "app", "ns1"),
            PodVmAction::kReplayStage);
  EXPECT_EQ(podVmAction(volumeIn(state::kNodeStageVolumeApplied, mine), "app", "ns1"),
            PodVmAction::kReplayPublish);
  EXPECT_EQ(podVmAction(volumeIn(state::kNodeUnpublishVolumeCached, mine), "app", "ns1"),
            PodVmAction::kReplayUnpublish);
  EXPECT_EQ(podVmAction(volumeIn(state::kNodeUnstageVolumeCached, mine), "app", "ns1"),
            PodVmAction::kReplayUnstage);
  EXPECT_EQ(podVmAction(volumeIn(state::kNodePublishVolumeApplied, mine), "app", "ns1"),
            PodVmAction::kNone);
  EXPECT_EQ(podVmAction(volumeIn(state::kControllerPublishVolumeApplied, mine), "app", "ns2"),
            PodVmAction::kNone);  // same name, another namespace
  EXPECT_EQ(podVmAction(volumeIn(state::kControllerPublishVolumeApplied, mine), "other", "ns1"),
            PodVmAction::kNone);
}

TEST(CsiStateMachine, ControllerPublishReplayUsesTheVm) {
  ::csi::v1::ControllerPublishVolumeRequest cached;
  cached.set_volume_id("vol-1");
  cached.set_node_id("worker-1");
  cached.set_readonly(true);
  (*cached.mutable_volume_context())["fsType"] = "ext4";
  cached.mutable_volume_capability()->mutable_mount()->set_fs_type("ext4");
  cached.mutable_volume_capability()->mutable_access_mode()->set_mode(
      ::csi::v1::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
  Json v = volumeIn(state::kPeerPodVSIIDReady,
                    {{"vmID", "i-0abc"}, {"wrapperControllerPublishVolumeReq", toJson(cached)}});
  auto req = controllerPublishReplay(v);
  ASSERT_TRUE(req) << req.error().message;
  EXPECT_EQ(req->node_id(), "i-0abc");
  EXPECT_EQ(req->volume_id(), "vol-1");
  EXPECT_TRUE(req->readonly());
  EXPECT_EQ(req->volume_context().at("fsType"), "ext4");
  EXPECT_EQ(req->volume_capability().access_mode().mode(),
            ::csi::v1::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);

  v["spec"]["vmID"] =
      "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/podvm-x";
  req = controllerPublishReplay(v);
  ASSERT_TRUE(req);
  EXPECT_EQ(req->node_id(), "podvm-x");

  v["spec"]["vmID"] = "";
  EXPECT_FALSE(controllerPublishReplay(v));
  v["spec"]["vmID"] = "i-1";
  v["spec"]["wrapperControllerPublishVolumeReq"] = "{not json";
  EXPECT_FALSE(controllerPublishReplay(v));
}

TEST(CsiStateMachine, NodeStageReplayGetsTheRealPublishContext) {
  ::csi::v1::NodeStageVolumeRequest stage;
  stage.set_volume_id("vol-1");
  stage.set_staging_target_path("/var/lib/kubelet/plugins/x/globalmount");
  (*stage.mutable_publish_context()) = {};
  for (const auto& [k, val] : fakePublishContext("vol-1", "r-1")) {
    (*stage.mutable_publish_context())[k] = val;
  }
  (*stage.mutable_secrets())["key"] = "s3cret";
  ::csi::v1::ControllerPublishVolumeResponse real;
  (*real.mutable_publish_context())["devicePath"] = "/dev/xvdba";
  (*real.mutable_publish_context())["LUN"] = "2";
  Json v = volumeIn(state::kControllerPublishVolumeApplied,
                    {{"wrapperNodeStageVolumeReq", toJson(stage)},
                     {"wrapperControllerPublishVolumeRes", toJson(real)},
                     {"devicePath", "/dev/nvme1n1"}});
  auto req = nodeStageReplay(v);
  ASSERT_TRUE(req) << req.error().message;
  EXPECT_EQ(req->publish_context().size(), 3u);  // the fake keys are gone
  EXPECT_EQ(req->publish_context().at("devicePath"), "/dev/xvdba");
  EXPECT_EQ(req->publish_context().at("LUN"), "2");
  EXPECT_EQ(req->publish_context().at("device-path"), "/dev/nvme1n1");
  EXPECT_EQ(req->staging_target_path(), "/var/lib/kubelet/plugins/x/globalmount");
  EXPECT_EQ(req->secrets().at("key"), "s3cret");

  ::csi::v1::NodePublishVolumeRequest publish;
  publish.set_target_path("/var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/pvc-1/mount");
  *publish.mutable_publish_context() = stage.publish_context();
  v["spec"]["wrapperNodePublishVolumeReq"] = toJson(publish);
  auto pub = nodePublishReplay(v);
  ASSERT_TRUE(pub) << pub.error().message;
  EXPECT_EQ(pub->publish_context().size(), 3u);
  EXPECT_EQ(pub->publish_context().at("device-path"), "/dev/nvme1n1");
  EXPECT_EQ(pub->publish_context().count("request-id"), 0u);
  EXPECT_EQ(pub->target_path(), publish.target_path());
}

TEST(CsiStateMachine, UnpublishGoesToTheVm) {
  ::csi::v1::ControllerUnpublishVolumeRequest r;
  r.set_volume_id("vol-1");
  r.set_node_id("worker-1");
  auto out =
      controllerUnpublishForVm(r, volumeIn(state::kNodeUnstageVolumeApplied, {{"vmID", "i-0abc"}}));
  EXPECT_EQ(out.node_id(), "i-0abc");
  EXPECT_EQ(out.volume_id(), "vol-1");
}

TEST(CsiStateMachine, ResetKeepsOnlyTheVolume) {
  Json v = volumeIn(state::kNodeUnstageVolumeApplied, {{"vmID", "i-0abc"},
                                                       {"podUid", "u1"},
                                                       {"devicePath", "/dev/x"},
                                                       {"wrapperNodeStageVolumeReq", "{}"},
                                                       {"nodeID", "worker-1"}});
  setLabel(v, "podUid", "u1");
  setLabel(v, "vmID", "i-0abc");
  Json r = resetVolume(v);
  EXPECT_EQ(r["metadata"]["labels"], (Json{{"volumeName", "pvc-1"}}));
  EXPECT_EQ(specOf(r, "volumeID"), "vol-1");
  EXPECT_EQ(specOf(r, "volumeName"), "pvc-1");
  for (const char* k : {"vmID", "podUid", "devicePath", "wrapperNodeStageVolumeReq", "nodeID"}) {
    EXPECT_EQ(specOf(r, k), "") << k;
  }
  EXPECT_EQ(r["metadata"]["name"], "vol-1");
}

TEST(CsiStateMachine, ClaimSetsPodAndNode) {
  Json r = claimVolume(volumeIn(state::kNodePublishVolumeCached), "app", "ns1", "worker-1");
  EXPECT_EQ(specOf(r, "podName"), "app");
  EXPECT_EQ(specOf(r, "podNamespace"), "ns1");
  EXPECT_EQ(specOf(r, "nodeName"), "worker-1");
  EXPECT_EQ(labelOf(r, "podName"), "app");
  EXPECT_EQ(labelOf(r, "podNamespace"), "ns1");
  EXPECT_EQ(labelOf(r, "podNodeName"), "worker-1");
  EXPECT_EQ(labelOf(r, "volumeName"), "pvc-1");
}

TEST(CsiStateMachine, FakePublishContext) {
  auto c = fakePublishContext("vol-1", newRequestId());
  EXPECT_EQ(c.at("volume-id"), "vol-1");
  EXPECT_EQ(c.at("node-id"), "");
  EXPECT_EQ(c.at("attach-status"), "attached");
  EXPECT_EQ(c.at("device-path"), "/dev/fff");
  const std::string& id = c.at("request-id");
  ASSERT_EQ(id.size(), 36u);
  EXPECT_EQ(id[14], '4');
  EXPECT_NE(newRequestId(), newRequestId());
}

// The CR holds Go jsonpb text: lowerCamelCase names, enums by name. A request cached by
// upstream's wrapper parses, and ours is written the same way.
TEST(CsiStateMachine, JsonAsUpstreamCachesIt) {
  std::string upstream =
      R"({"volumeId":"vol-1","nodeId":"ip-10-0-0-1","volumeCapability":{"mount":{"fsType":"ext4"},)"
      R"("accessMode":{"mode":"SINGLE_NODE_WRITER"}},"volumeContext":{"partition":"0"}})";
  ::csi::v1::ControllerPublishVolumeRequest r;
  ASSERT_TRUE(fromJson(upstream, &r));
  EXPECT_EQ(r.node_id(), "ip-10-0-0-1");
  EXPECT_EQ(r.volume_capability().mount().fs_type(), "ext4");
  Json ours = Json::parse(toJson(r));
  EXPECT_EQ(ours, Json::parse(upstream));
  EXPECT_FALSE(fromJson("[1]", &r));
}

}  // namespace
}  // namespace pp::csi
