#include "adaptor/agent_proxy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "agent/agent.pb.h"
#include "base/encoding.h"

namespace pp::adaptor {
namespace {

constexpr char kTarget[] = "io.confidentialcontainers.org.peerpodvolumes.target_path";

class EditCreateContainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("dv-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void markDirectVolume(const std::string& source) {
    std::filesystem::create_directories(dir_ / encoding::base64UrlEncode(source));
  }
  std::filesystem::path dir_;
};

TEST_F(EditCreateContainerTest, CsiTargetPathsAndGpuAnnotationAsUpstream) {
  const std::string csiA = "/var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/pvc-a/mount";
  const std::string csiB = "/var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/pvc-b/mount";
  const std::string csiNoDir = "/var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/pvc-c/mount";
  markDirectVolume(csiA);
  markDirectVolume(csiB);

  grpc::CreateContainerRequest req;
  req.set_container_id("c1");
  req.mutable_string_user()->set_uid("1000");  // not in the edit view: must survive
  auto* spec = req.mutable_oci();
  spec->set_version("1.1.0");
  spec->mutable_process()->add_args("sh");
  spec->add_mounts()->set_source("/etc/hosts");  // first mount is not a CSI volume
  spec->add_mounts()->set_source(csiA + "/");    // cleaned before matching
  spec->add_mounts()->set_source(csiNoDir);      // no direct-volume directory: skipped
  spec->add_mounts()->set_source(csiB);
  (*spec->mutable_annotations())["io.katacontainers.config.hypervisor.default_gpus"] = "1";
  auto* storage = req.add_storages();
  storage->set_driver("image_guest_pull");
  storage->set_source("docker.io/library/busybox");

  auto edited = editCreateContainer(req.SerializeAsString(), dir_.string());
  ASSERT_TRUE(edited) << edited.error().message;
  grpc::CreateContainerRequest out;
  ASSERT_TRUE(out.ParseFromString(*edited));
  // No leading comma (upstream's quirk when the first CSI mount is not mount 0).
  EXPECT_EQ(out.oci().annotations().at(kTarget), csiA + "," + csiB);
  EXPECT_EQ(out.oci().annotations().at("cdi.k8s.io/peer-pods"), "nvidia.com/gpu=all");
  EXPECT_EQ(out.string_user().uid(), "1000");
  EXPECT_EQ(out.oci().process().args(0), "sh");
  EXPECT_EQ(out.storages(0).source(), "docker.io/library/busybox");
  EXPECT_EQ(out.oci().mounts_size(), 4);
}

TEST_F(EditCreateContainerTest, NothingToEditAndMalformedInput) {
  grpc::CreateContainerRequest req;
  req.set_container_id("c2");
  (*req.mutable_oci()->mutable_annotations())["io.katacontainers.config.hypervisor.default_gpus"] =
      "";
  auto edited = editCreateContainer(req.SerializeAsString(), dir_.string());
  ASSERT_TRUE(edited);
  grpc::CreateContainerRequest out;
  ASSERT_TRUE(out.ParseFromString(*edited));
  EXPECT_FALSE(out.oci().annotations().contains(kTarget));
  EXPECT_FALSE(out.oci().annotations().contains("cdi.k8s.io/peer-pods"));
  auto bad = editCreateContainer("\xff\xff\xff", dir_.string());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Code::kInvalidArgument);
}

}  // namespace
}  // namespace pp::adaptor
