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

// interceptor.cc: createBindSources below `root` instead of "/", so tests need not touch the
// real /run/kata-containers.
Status createBindSourcesUnder(const std::string& root, const std::vector<std::string>& sources);

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

// Only bind sources under /run/kata-containers and the annotated CSI targets are handed on to
// be created; the request itself keeps every mount, so kata-agent and its policy see them all.
TEST(EditCreateContainer, OnlyKataAndAnnotatedCsiSourcesAreToBeCreated) {
  const std::string csi = "/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pvc-1/mount";
  const std::string otherCsi = "/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pvc-2/mount";
  auto req = containerRequest();
  auto* oci = req.mutable_oci();
  for (const char* source :
       {"/run/kata-containers/shared/containers/c1-hosts", "/etc/cron.d",
        "/run/kata-containers/../../etc/x", "/run/kata-containers//x", "/run/kata-containers",
        "run/kata-containers/x", csi.c_str(), otherCsi.c_str(),
        "/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pvc-1/mount/../../../x"}) {
    auto* m = oci->add_mounts();
    m->set_type("bind");
    m->set_source(source);
    m->set_destination("/mnt");
  }
  (*oci->mutable_annotations())[kTargetPathAnnotation] = csi;
  auto edit = editCreateContainer(req.SerializeAsString(), "/run/netns/podns");
  ASSERT_TRUE(edit);
  EXPECT_EQ(edit->bindSources,
            (std::vector<std::string>{"/run/kata-containers/shared/containers/c1-hosts", csi}));
  grpc::CreateContainerRequest got;
  ASSERT_TRUE(got.ParseFromString(edit->payload));
  EXPECT_EQ(got.oci().mounts_size(), 9);
  EXPECT_EQ(got.oci().mounts(1).source(), "/etc/cron.d");
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

namespace fs = std::filesystem;

TEST_F(BindSources, CreatesMissingKataAndCsiDirectoriesOnly) {
  fs::create_directories(dir_ + "/run/kata-containers/shared/containers");
  std::ofstream(dir_ + "/run/kata-containers/shared/containers/c1-hosts") << "x";
  const std::string csi = "/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pvc-1/mount";
  ASSERT_TRUE(
      createBindSourcesUnder(dir_, {"/run/kata-containers/shared/containers/c1-hosts",
                                    "/run/kata-containers/shared/containers/c1-empty-dir", csi}));
  EXPECT_TRUE(fs::is_regular_file(dir_ + "/run/kata-containers/shared/containers/c1-hosts"));
  EXPECT_TRUE(fs::is_directory(dir_ + "/run/kata-containers/shared/containers/c1-empty-dir"));
  EXPECT_TRUE(fs::is_directory(dir_ + csi));
  EXPECT_EQ(fs::status(dir_ + csi).permissions(), fs::perms(0755));
}

// Upstream (and we, before) created any missing source, e.g. /etc/cron.d or a path in /tmp.
TEST_F(BindSources, NeverCreatesOtherPaths) {
  ASSERT_TRUE(createBindSources({dir_ + "/a/b/c"}));
  EXPECT_FALSE(fs::exists(dir_ + "/a"));
  ASSERT_TRUE(createBindSourcesUnder(
      dir_, {"/etc/cron.d", "/run/kata-containers/../../etc/x", "/run/kata-containers/./x",
             "/run/kata-containers", "/run/kata-containers/",
             "/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pvc-1/mount/sub",
             "/var/lib/kubelet/x", "relative/run/kata-containers/x", ""}));
  EXPECT_TRUE(fs::is_empty(dir_)) << "something was created under " << dir_;
}

// A link anywhere on the way (or at the end) is not followed: nothing is created outside.
TEST_F(BindSources, NeverFollowsALink) {
  fs::create_directories(dir_ + "/outside");
  fs::create_directories(dir_ + "/run/kata-containers");
  fs::create_directory_symlink(dir_ + "/outside", dir_ + "/run/kata-containers/shared");
  fs::create_symlink(dir_ + "/outside/target", dir_ + "/run/kata-containers/final");
  std::ofstream(dir_ + "/run/kata-containers/blocker") << "x";
  ASSERT_TRUE(createBindSourcesUnder(
      dir_, {"/run/kata-containers/shared/containers/c1-x", "/run/kata-containers/final",
             "/run/kata-containers/blocker/sub"}));
  EXPECT_TRUE(fs::is_empty(dir_ + "/outside"));
  EXPECT_TRUE(fs::is_symlink(dir_ + "/run/kata-containers/final"));
  EXPECT_TRUE(fs::is_regular_file(dir_ + "/run/kata-containers/blocker"));
  // The whole prefix is walked the same way: a linked /run is not followed either.
  fs::remove_all(dir_ + "/run");
  fs::create_directory_symlink(dir_ + "/outside", dir_ + "/run");
  ASSERT_TRUE(createBindSourcesUnder(dir_, {"/run/kata-containers/shared/containers/c1-x"}));
  EXPECT_TRUE(fs::is_empty(dir_ + "/outside"));
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
