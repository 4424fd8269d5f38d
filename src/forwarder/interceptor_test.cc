// The request edits and the mount helpers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/agent.pb.h"
#include "forwarder/forwarder.h"

namespace pp::forwarder {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(EditCreateSandbox, DropsDnsKeepsTheRest) {
  grpc::CreateSandboxRequest req;
  req.set_hostname("pod-a");
  req.add_dns("nameserver 10.96.0.10");
  req.add_dns("search default.svc.cluster.local");
  req.set_sandbox_id("sb");
  req.add_kernel_modules()->set_name("mod");
  auto out = editCreateSandbox(req.SerializeAsString());
  ASSERT_TRUE(out) << out.error().toString();
  grpc::CreateSandboxRequest got;
  ASSERT_TRUE(got.ParseFromString(*out));
  EXPECT_EQ(got.dns_size(), 0);
  EXPECT_EQ(got.hostname(), "pod-a");
  EXPECT_EQ(got.sandbox_id(), "sb");
  ASSERT_EQ(got.kernel_modules_size(), 1);
  EXPECT_FALSE(editCreateSandbox("\xff\xff\xff"));
}

grpc::CreateContainerRequest containerRequest() {
  grpc::CreateContainerRequest req;
  req.set_container_id("c1");
  req.set_exec_id("c1");
  req.add_storages()->set_driver("image_guest_pull");
  auto* oci = req.mutable_oci();
  oci->set_version("1.1.0");
  oci->mutable_process()->add_args("sh");
  oci->mutable_root()->set_path("/run/kata-containers/c1/rootfs");
  oci->mutable_linux()->set_cgroupspath("/kubepods/c1");
  auto* pid = oci->mutable_linux()->add_namespaces();
  pid->set_type("pid");
  return req;
}

TEST(EditCreateContainer, AddsThePodNetworkNamespaceAndKeepsEverythingElse) {
  auto req = containerRequest();
  auto edit = editCreateContainer(req.SerializeAsString(), "/run/netns/podns");
  ASSERT_TRUE(edit) << edit.error().toString();
  EXPECT_EQ(edit->containerId, "c1");
  grpc::CreateContainerRequest got;
  ASSERT_TRUE(got.ParseFromString(edit->payload));
  const auto& ns = got.oci().linux().namespaces();
  ASSERT_EQ(ns.size(), 2);
  EXPECT_EQ(ns[0].type(), "pid");
  EXPECT_EQ(ns[1].type(), "network");
  EXPECT_EQ(ns[1].path(), "/run/netns/podns");
  // Fields the edit view does not declare survive.
  EXPECT_EQ(got.exec_id(), "c1");
  EXPECT_EQ(got.storages(0).driver(), "image_guest_pull");
  EXPECT_EQ(got.oci().version(), "1.1.0");
  EXPECT_EQ(got.oci().process().args(0), "sh");
  EXPECT_EQ(got.oci().root().path(), "/run/kata-containers/c1/rootfs");
  EXPECT_EQ(got.oci().linux().cgroupspath(), "/kubepods/c1");
  EXPECT_TRUE(edit->bindSources.empty());
  EXPECT_TRUE(edit->waitTargets.empty());
}

TEST(EditCreateContainer, ReplacesAnExistingNetworkNamespace) {
  auto req = containerRequest();
  auto* net = req.mutable_oci()->mutable_linux()->add_namespaces();
  net->set_type("network");
  net->set_path("/proc/1/ns/net");
  auto edit = editCreateContainer(req.SerializeAsString(), "/run/netns/podns");
  ASSERT_TRUE(edit);
  grpc::CreateContainerRequest got;
  ASSERT_TRUE(got.ParseFromString(edit->payload));
  ASSERT_EQ(got.oci().linux().namespaces_size(), 2);
  EXPECT_EQ(got.oci().linux().namespaces(1).path(), "/run/netns/podns");
}

TEST(EditCreateContainer, WorksWithoutLinuxSection) {
  grpc::CreateContainerRequest req;
  req.set_container_id("c2");
  auto edit = editCreateContainer(req.SerializeAsString(), "/run/netns/podns");
  ASSERT_TRUE(edit);
  grpc::CreateContainerRequest got;
  ASSERT_TRUE(got.ParseFromString(edit->payload));
  ASSERT_EQ(got.oci().linux().namespaces_size(), 1);
  EXPECT_FALSE(editCreateContainer("\x0a\xff", "/run/netns/podns"));
}

TEST(EditCreateContainer, CollectsBindSourcesAndVolumeTargets) {
  auto req = containerRequest();
  auto* oci = req.mutable_oci();
  auto* bind = oci->add_mounts();
  bind->set_type("bind");
  bind->set_source("/run/kata-containers/shared/containers/c1-hosts");
  bind->set_destination("/etc/hosts");
  auto* proc = oci->add_mounts();
  proc->set_type("proc");
  proc->set_source("proc");
  (*oci->mutable_annotations())[kTargetPathAnnotation] =
      ",/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pvc-1/mount/, "
      "/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pvc-2/mount";
  (*oci->mutable_annotations())["other"] = "kept";
  auto edit = editCreateContainer(req.SerializeAsString(), "/run/netns/podns");
  ASSERT_TRUE(edit);
  EXPECT_EQ(edit->bindSources,
            std::vector<std::string>{"/run/kata-containers/shared/containers/c1-hosts"});
  EXPECT_EQ(
      edit->waitTargets,
      (std::vector<std::string>{"/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pvc-1/mount",
                                "/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pvc-2/mount"}));
  grpc::CreateContainerRequest got;
  ASSERT_TRUE(got.ParseFromString(edit->payload));
  EXPECT_EQ(got.oci().annotations().at("other"), "kept");
  EXPECT_EQ(got.oci().mounts_size(), 2);
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pfXXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void writeMountinfo(const std::string& text) {
    std::ofstream(dir_ + "/mountinfo.tmp") << text;
    std::filesystem::rename(dir_ + "/mountinfo.tmp", dir_ + "/mountinfo");
  }
  std::string dir_;
};

using BindSources = TempDir;

TEST_F(BindSources, CreatesMissingDirectoriesOnly) {
  std::string existing = dir_ + "/file";
  std::ofstream(existing) << "x";
  std::string missing = dir_ + "/a/b/c";
  ASSERT_TRUE(createBindSources({existing, missing}));
  EXPECT_TRUE(std::filesystem::is_regular_file(existing));
  EXPECT_TRUE(std::filesystem::is_directory(missing));
  std::ofstream(dir_ + "/blocker") << "x";
  EXPECT_FALSE(createBindSources({dir_ + "/blocker/sub"}));
}

TEST(MountPoints, ParsesMountinfo) {
  std::string text =
      "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
      "36 22 98:0 /mnt1 /with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n"
      "37 22 0:5 / /var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pvc-1/mount rw - nfs srv:/x "
      "rw";
  EXPECT_EQ(
      parseMountPoints(text),
      (std::vector<std::string>{"/", "/with space",
                                "/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pvc-1/mount"}));
  EXPECT_TRUE(parseMountPoints("").empty());
  EXPECT_TRUE(parseMountPoints("1 2 3\n").empty());
}

using MountWait = TempDir;

Status runWait(asio::io_context& io, const std::vector<std::string>& targets,
               Clock::duration timeout, const std::string& mountinfo) {
  auto deadline = Clock::now() + timeout;
  auto f = asio::co_spawn(io, waitForMounts(targets, deadline, mountinfo), asio::use_future);
  io.run();
  io.restart();
  return f.get();
}

TEST_F(MountWait, ReturnsOnceEveryTargetIsMounted) {
  writeMountinfo("22 1 0:21 / / rw - ext4 /dev/vda1 rw\n");
  std::thread mounter([this] {
    std::this_thread::sleep_for(300ms);
    writeMountinfo(
        "22 1 0:21 / / rw - ext4 /dev/vda1 rw\n37 22 0:5 / /vol/a rw - nfs s:/x rw\n38 22 0:5 / "
        "/vol/b rw - nfs s:/y rw\n");
  });
  asio::io_context io;
  auto start = Clock::now();
  auto st = runWait(io, {"/vol/a", "/vol/b"}, 10s, dir_ + "/mountinfo");
  mounter.join();
  EXPECT_TRUE(st) << st.error().toString();
  EXPECT_GE(Clock::now() - start, 300ms);
  EXPECT_LT(Clock::now() - start, 5s);
}

TEST_F(MountWait, GivesUpAtTheDeadlineNamingWhatIsMissing) {
  writeMountinfo("37 22 0:5 / /vol/a rw - nfs s:/x rw\n");
  asio::io_context io;
  auto start = Clock::now();
  auto st = runWait(io, {"/vol/a", "/vol/b"}, 400ms, dir_ + "/mountinfo");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Code::kDeadlineExceeded);
  EXPECT_NE(st.error().message.find("/vol/b"), std::string::npos);
  EXPECT_EQ(st.error().message.find("/vol/a"), std::string::npos);
  EXPECT_GE(Clock::now() - start, 400ms);
  EXPECT_LT(Clock::now() - start, 2s);
}

}  // namespace
}  // namespace pp::forwarder
