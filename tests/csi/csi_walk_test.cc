// The CSI wrappers' walk, with the three wrappers as real processes: a fake Kubernetes API
// server (HTTPS, token) holding the PeerpodVolume CRs, two fake vendor CSI drivers (the worker's
// controller + node plugin, and the node plugin inside the pod VM) that record every call, and
// a podvminfo.PodVMInfo ttrpc server on the real proto (the adaptor's GetInfo) that knows the
// pod's VM. The test plays the CSI sidecars and kubelet against the wrappers' sockets:
//   provision -> attach (cached) -> stage (cached) -> publish (cached) -> podvm wrapper starts ->
//   VM ID -> attach replayed to the VM -> stage/publish replayed in the VM -> unpublish ->
//   unstage -> detach from the VM -> delete.
// The vendor's call log is printed (the "[vendor ...]" lines).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "base/encoding.h"
#include "base/files.h"
#include "csi/names.h"
#include "csi/state_machine.h"
#include "csi/volume_client.h"
#include "fake_csi_driver.h"
#include "fake_kube_api.h"
#include "net/tls.h"
#include "podvminfo/podvminfo.pb.h"
#include "ttrpc/io_thread.h"
#include "ttrpc/listener.h"
#include "ttrpc/server.h"

namespace pp {
namespace {

using namespace std::chrono_literals;
using csi::Json;
using testing::FakeCsiDriver;

constexpr char kNs[] = "kube-system";
constexpr char kNode[] = "worker-1";
constexpr char kPodName[] = "app";
constexpr char kPodNs[] = "default";
constexpr char kPodUid[] = "69576836-28c2-447e-a726-fdf8866a0622";
constexpr char kVmId[] =
    "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/"
    "podvm-app-1a2b";
constexpr char kVmName[] = "podvm-app-1a2b";

const net::CertificateAuthority& apiCa() {
  static const auto ca = net::CertificateAuthority::create("test", "csi-walk-ca");
  return *ca;
}

template <typename Pred>
bool waitFor(Pred pred, std::chrono::milliseconds limit = 15000ms) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

// A wrapper process; killed (SIGKILL) when the test ends.
struct Process {
  pid_t pid = -1;
  std::string log;
  ~Process() { kill(SIGKILL); }
  void kill(int sig) {
    if (pid <= 0) return;
    ::kill(pid, sig);
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid = -1;
  }
  // SIGTERM, then the exit status within `limit` (-1: still running, then killed).
  int terminate(std::chrono::milliseconds limit) {
    if (pid <= 0) return -1;
    ::kill(pid, SIGTERM);
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(20ms);
    }
    kill(SIGKILL);
    return -1;
  }
};

// The adaptor's podvminfo.PodVMInfo/GetInfo on its real proto: the VM ID of a known pod,
// NOT_FOUND for others (no VM yet), as the adaptor answers with Wait false.
class PodVmInfoServer {
 public:
  explicit PodVmInfoServer(const std::string& path) {
    server_.addTyped<podvminfo::GetInfoRequest, podvminfo::GetInfoResponse>(
        "podvminfo.PodVMInfo", "GetInfo",
        [this](const ttrpc::CallContext&, podvminfo::GetInfoRequest req)
            -> asio::awaitable<Result<podvminfo::GetInfoResponse>> {
          std::string key = req.podnamespace() + "/" + req.podname();
          std::printf("[adaptor] GetInfo PodName=%s PodNamespace=%s Wait=%d\n",
                      req.podname().c_str(), req.podnamespace().c_str(), req.wait() ? 1 : 0);
          std::lock_guard lock(mu_);
          ++calls_;
          auto it = vms_.find(key);
          if (it == vms_.end()) co_return fail(Code::kNotFound, "no VM for pod " + key);
          podvminfo::GetInfoResponse resp;
          resp.set_vmid(it->second);
          co_return resp;
        });
    auto* server = &server_;
    auto ex = io_.executor();
    auto l = io_.run([&]() -> asio::awaitable<Result<std::unique_ptr<ttrpc::Listener>>> {
      co_return ttrpc::listenUnix(ex, path, [server](std::unique_ptr<ttrpc::ByteStream> s) {
        server->serveConnection(std::move(s));
      });
    });
    EXPECT_TRUE(l);
    if (l) listener_ = std::move(*l);
  }
  ~PodVmInfoServer() {
    io_.run([this]() -> asio::awaitable<void> {
      if (listener_) listener_->close();
      server_.shutdown();
      co_return;
    });
    io_.stop();
  }
  void addVm(const std::string& podNs, const std::string& pod, const std::string& vmId) {
    std::lock_guard lock(mu_);
    vms_[podNs + "/" + pod] = vmId;
  }
  int calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  ttrpc::IoThread io_;
  ttrpc::Server server_;
  std::unique_ptr<ttrpc::Listener> listener_;
  mutable std::mutex mu_;
  std::map<std::string, std::string> vms_;
  int calls_ = 0;
};

class CsiWalk : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / ("csi-walk-" + std::to_string(::getpid()) + "-" +
                                                  std::to_string(std::random_device{}() % 100000));
    std::filesystem::create_directories(dir_);
    auto server = apiCa().issueServer("127.0.0.1");
    ASSERT_TRUE(server);
    auto tls = net::makeServerContext({.certPem = server->certPem, .keyPem = server->keyPem});
    ASSERT_TRUE(tls);
    api_ = fakes::FakeKubeApi::start({.token = "csi-token", .tls = *tls});
    kubeconfig_ = dir_ + "/kubeconfig";
    ASSERT_TRUE(files::writeAtomic(kubeconfig_,
                                   "apiVersion: v1\nkind: Config\ncurrent-context: t\n"
                                   "clusters: [{name: c, cluster: {server: '" +
                                       api_->url() + "', certificate-authority-data: " +
                                       encoding::base64Encode(apiCa().certPem()) +
                                       "}}]\n"
                                       "contexts: [{name: t, context: {cluster: c, user: u}}]\n"
                                       "users: [{name: u, user: {token: csi-token}}]\n"));
    auto config = api_->clientConfig();
    volumes_ =
        std::make_unique<csi::VolumeClient>(std::make_shared<const k8s::Client>(config), kNs);

    worker_ = FakeCsiDriver::start(dir_ + "/csi.sock", {.label = "worker"});
    vm_ = FakeCsiDriver::start(dir_ + "/vm-csi.sock", {.label = "in-VM"});
    ASSERT_TRUE(worker_ && vm_);
    podVmInfo_ = std::make_unique<PodVmInfoServer>(dir_ + "/hypervisor.sock");
    ctrlChannel_ =
        grpc::CreateChannel("unix:" + dir_ + "/ctrl.sock", grpc::InsecureChannelCredentials());
    nodeChannel_ =
        grpc::CreateChannel("unix:" + dir_ + "/node.sock", grpc::InsecureChannelCredentials());
    identity_ = ::csi::v1::Identity::NewStub(ctrlChannel_);
    controller_ = ::csi::v1::Controller::NewStub(ctrlChannel_);
    node_ = ::csi::v1::Node::NewStub(nodeChannel_);
  }

  void TearDown() override {
    for (auto* p : {&ctrl_, &nodeWrapper_, &podvm_}) p->kill(SIGKILL);
    if (HasFailure()) {
      for (const char* name : {"controller", "node", "podvm"}) {
        std::string text;
        if (auto t = files::readFile(dir_ + "/" + name + ".log")) text = *t;
        std::printf("---- %s wrapper log ----\n%s\n", name, text.c_str());
      }
    }
    node_.reset();
    controller_.reset();
    identity_.reset();
    podVmInfo_.reset();
    worker_.reset();
    vm_.reset();
    api_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void start(Process& p, const char* binary, const std::string& name, std::vector<std::string> args,
             std::vector<std::string> env) {
    p.log = dir_ + "/" + name + ".log";
    args.insert(args.begin(),
                {binary, "--kubeconfig=" + kubeconfig_, "--namespace=" + std::string(kNs)});
    p.pid = ::fork();
    if (p.pid == 0) {
      int fd = ::open(p.log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      for (auto& e : env) ::putenv(e.data());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(binary, argv.data());
      ::_exit(127);
    }
  }
  void startController() {
    start(ctrl_, PP_CSI_CONTROLLER_WRAPPER, "controller",
          {"--endpoint=" + dir_ + "/ctrl.sock", "--target-endpoint=" + dir_ + "/csi.sock"}, {});
  }
  void startNode() {
    start(nodeWrapper_, PP_CSI_NODE_WRAPPER, "node",
          {"--endpoint=" + dir_ + "/node.sock", "--target-endpoint=" + dir_ + "/csi.sock",
           "--vm-id-information-endpoint=" + dir_ + "/hypervisor.sock",
           "--direct-volumes-dir=" + dir_ + "/direct-volumes"},
          {"POD_NODE_NAME=" + std::string(kNode)});
  }
  void startPodVm() {
    start(podvm_, PP_CSI_PODVM_WRAPPER, "podvm",
          {"--endpoint=" + dir_ + "/podvm.sock", "--target-endpoint=" + dir_ + "/vm-csi.sock"},
          {"POD_NAME=" + std::string(kPodName), "POD_NAME_SPACE=" + std::string(kPodNs),
           "POD_UID=" + std::string(kPodUid), "POD_NODE_NAME=" + std::string(kNode)});
  }

  std::unique_ptr<grpc::ClientContext> ctx() {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_wait_for_ready(true);
    c->set_deadline(std::chrono::system_clock::now() + 15s);
    return c;
  }

  std::optional<Json> cr(const std::string& name) {
    return api_->object("peerpodvolumes", kNs, name);
  }
  std::string stateOf(const std::string& name) {
    auto v = cr(name);
    return v ? csi::stateOf(*v) : "<none>";
  }
  bool waitState(const std::string& name, const std::string& state) {
    bool ok = waitFor([&] { return stateOf(name) == state; });
    if (!ok)
      ADD_FAILURE() << "PeerpodVolume " << name << " is " << stateOf(name) << ", not " << state;
    return ok;
  }

  std::string stagingPath() {
    return dir_ + "/kubelet/plugins/kubernetes.io/csi/fake/abc/globalmount";
  }
  std::string targetPath(const std::string& pv) {
    return dir_ + "/kubelet/pods/" + kPodUid + "/volumes/kubernetes.io~csi/" + pv + "/mount";
  }

  // The sidecars' and kubelet's calls up to the (cached) publish of volume `pvc`.
  std::string provisionAttachStagePublish(const std::string& pvc) {
    ::csi::v1::CreateVolumeRequest create;
    create.set_name(pvc);
    (*create.mutable_parameters())["peerpod"] = "true";
    (*create.mutable_parameters())["type"] = "gp3";
    create.mutable_capacity_range()->set_required_bytes(1 << 30);
    ::csi::v1::CreateVolumeResponse created;
    auto st = controller_->CreateVolume(ctx().get(), create, &created);
    EXPECT_TRUE(st.ok()) << st.error_message();
    std::string volumeId = created.volume().volume_id();
    std::string name = csi::normalizeVolumeId(volumeId);
    auto v = cr(name);
    EXPECT_TRUE(v) << "no PeerpodVolume " << name;
    if (v) {
      EXPECT_EQ(csi::specOf(*v, "volumeName"), pvc);
      EXPECT_EQ(csi::labelOf(*v, "volumeName"), pvc);
    }

    ::csi::v1::ControllerPublishVolumeRequest publish;
    publish.set_volume_id(volumeId);
    publish.set_node_id(kNode);
    publish.mutable_volume_capability()->mutable_mount()->set_fs_type("ext4");
    publish.mutable_volume_capability()->mutable_access_mode()->set_mode(
        ::csi::v1::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
    ::csi::v1::ControllerPublishVolumeResponse published;
    st = controller_->ControllerPublishVolume(ctx().get(), publish, &published);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(published.publish_context().at("device-path"), "/dev/fff");  // the fake context
    EXPECT_EQ(published.publish_context().at("attach-status"), "attached");
    EXPECT_EQ(stateOf(name), csi::state::kControllerPublishVolumeCached);

    ::csi::v1::NodeStageVolumeRequest stage;
    stage.set_volume_id(volumeId);
    stage.set_staging_target_path(stagingPath());
    *stage.mutable_publish_context() = published.publish_context();
    *stage.mutable_volume_capability() = publish.volume_capability();
    ::csi::v1::NodeStageVolumeResponse staged;
    st = node_->NodeStageVolume(ctx().get(), stage, &staged);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(stateOf(name), csi::state::kNodeStageVolumeCached);
    EXPECT_TRUE(std::filesystem::is_directory(stagingPath()));

    ::csi::v1::NodePublishVolumeRequest nodePublish;
    nodePublish.set_volume_id(volumeId);
    nodePublish.set_staging_target_path(stagingPath());
    nodePublish.set_target_path(targetPath(pvc));
    *nodePublish.mutable_publish_context() = published.publish_context();
    *nodePublish.mutable_volume_capability() = publish.volume_capability();
    ::csi::v1::NodePublishVolumeResponse nodePublished;
    st = node_->NodePublishVolume(ctx().get(), nodePublish, &nodePublished);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(stateOf(name), csi::state::kNodePublishVolumeCached);
    EXPECT_TRUE(std::filesystem::is_directory(targetPath(pvc)));
    EXPECT_TRUE(std::filesystem::exists(dir_ + "/direct-volumes/" +
                                        encoding::base64UrlEncode(targetPath(pvc)) +
                                        "/mountInfo.json"));
    if (auto after = cr(name)) {
      EXPECT_EQ(csi::labelOf(*after, "podUid"), kPodUid);
      EXPECT_EQ(csi::labelOf(*after, "nodeID"), kNode);
    }
    return volumeId;
  }

  // kubelet's unpublish and unstage and the attacher's detach, then the provisioner's delete.
  void unpublishUnstageDetachDelete(const std::string& volumeId, const std::string& pvc,
                                    bool vmReplays) {
    std::string name = csi::normalizeVolumeId(volumeId);
    ::csi::v1::NodeUnpublishVolumeRequest unpublish;
    unpublish.set_volume_id(volumeId);
    unpublish.set_target_path(targetPath(pvc));
    ::csi::v1::NodeUnpublishVolumeResponse unpublished;
    auto st = node_->NodeUnpublishVolume(ctx().get(), unpublish, &unpublished);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_FALSE(std::filesystem::exists(targetPath(pvc)));
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/direct-volumes/" +
                                         encoding::base64UrlEncode(targetPath(pvc))));
    if (vmReplays) waitState(name, csi::state::kNodeUnpublishVolumeApplied);

    ::csi::v1::NodeUnstageVolumeRequest unstage;
    unstage.set_volume_id(volumeId);
    unstage.set_staging_target_path(stagingPath());
    ::csi::v1::NodeUnstageVolumeResponse unstaged;
    st = node_->NodeUnstageVolume(ctx().get(), unstage, &unstaged);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_FALSE(std::filesystem::exists(stagingPath()));
    if (vmReplays) waitState(name, csi::state::kNodeUnstageVolumeApplied);

    ::csi::v1::ControllerUnpublishVolumeRequest detach;
    detach.set_volume_id(volumeId);
    detach.set_node_id(kNode);
    ::csi::v1::ControllerUnpublishVolumeResponse detached;
    st = controller_->ControllerUnpublishVolume(ctx().get(), detach, &detached);
    EXPECT_TRUE(st.ok()) << st.error_message();
    if (auto v = cr(name)) {  // reset: only the volume is left
      EXPECT_EQ(csi::stateOf(*v), "");
      EXPECT_EQ(csi::specOf(*v, "vmID"), "");
      EXPECT_EQ(csi::specOf(*v, "podUid"), "");
      EXPECT_EQ(csi::specOf(*v, "wrapperControllerPublishVolumeReq"), "");
      EXPECT_EQ(v->at("metadata").at("labels"), (Json{{"volumeName", pvc}}));
    } else {
      ADD_FAILURE() << "PeerpodVolume " << name << " is gone before DeleteVolume";
    }

    ::csi::v1::DeleteVolumeRequest del;
    del.set_volume_id(volumeId);
    ::csi::v1::DeleteVolumeResponse deleted;
    st = controller_->DeleteVolume(ctx().get(), del, &deleted);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_FALSE(cr(name)) << "PeerpodVolume " << name << " left behind";
  }

  std::string dir_, kubeconfig_;
  std::unique_ptr<fakes::FakeKubeApi> api_;
  std::unique_ptr<csi::VolumeClient> volumes_;
  std::unique_ptr<FakeCsiDriver> worker_, vm_;
  std::unique_ptr<PodVmInfoServer> podVmInfo_;
  std::shared_ptr<grpc::Channel> ctrlChannel_, nodeChannel_;
  std::unique_ptr<::csi::v1::Identity::Stub> identity_;
  std::unique_ptr<::csi::v1::Controller::Stub> controller_;
  std::unique_ptr<::csi::v1::Node::Stub> node_;
  Process ctrl_, nodeWrapper_, podvm_;
};

TEST_F(CsiWalk, AttachStagePublishUnpublishUnstageDetach) {
  startController();
  startNode();
  podVmInfo_->addVm(kPodNs, kPodName, kVmId);

  ::csi::v1::GetPluginInfoResponse info;
  auto st = identity_->GetPluginInfo(ctx().get(), {}, &info);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(info.name(), "fake.csi.peerpods.io");

  std::string volumeId = provisionAttachStagePublish("pvc-1");
  std::string name = csi::normalizeVolumeId(volumeId);
  EXPECT_EQ(worker_->methods(), (std::vector<std::string>{"GetPluginInfo", "CreateVolume"}));
  EXPECT_EQ(worker_->callsOf("CreateVolume").at(0).parameters,
            (std::map<std::string, std::string>{{"type", "gp3"}}));  // peerpod stripped

  // The controller wrapper crashes mid-walk; the pod VM starts meanwhile.
  ctrl_.kill(SIGKILL);
  startPodVm();
  waitState(name, csi::state::kPeerPodVSIIDReady);
  auto v = cr(name);
  ASSERT_TRUE(v);
  EXPECT_EQ(csi::specOf(*v, "vmID"), kVmId);
  EXPECT_EQ(csi::labelOf(*v, "vmID"), kVmName);
  EXPECT_EQ(csi::specOf(*v, "podName"), kPodName);
  EXPECT_EQ(csi::labelOf(*v, "podNodeName"), kNode);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(stateOf(name), csi::state::kPeerPodVSIIDReady);  // nobody else moves it
  EXPECT_TRUE(worker_->callsOf("ControllerPublishVolume").empty());

  // Restarted, it resumes from the CR: the attach is replayed against the VM.
  startController();
  waitState(name, csi::state::kNodePublishVolumeApplied);
  v = cr(name);
  ASSERT_TRUE(v);
  EXPECT_EQ(csi::specOf(*v, "devicePath"), "/dev/xvdf");

  unpublishUnstageDetachDelete(volumeId, "pvc-1", true);

  // What the vendor saw: each replay once, with the VM's name as node_id and the right paths.
  EXPECT_EQ(worker_->methods(),
            (std::vector<std::string>{"GetPluginInfo", "CreateVolume", "ControllerPublishVolume",
                                      "ControllerUnpublishVolume", "DeleteVolume"}));
  auto attach = worker_->callsOf("ControllerPublishVolume").at(0);
  EXPECT_EQ(attach.volumeId, volumeId);
  EXPECT_EQ(attach.nodeId, kVmName);
  auto detach = worker_->callsOf("ControllerUnpublishVolume").at(0);
  EXPECT_EQ(detach.nodeId, kVmName);
  EXPECT_EQ(worker_->callsOf("DeleteVolume").at(0).volumeId, volumeId);

  EXPECT_EQ(vm_->methods(), (std::vector<std::string>{"NodeStageVolume", "NodePublishVolume",
                                                      "NodeUnpublishVolume", "NodeUnstageVolume"}));
  auto stage = vm_->callsOf("NodeStageVolume").at(0);
  EXPECT_EQ(stage.volumeId, volumeId);
  EXPECT_EQ(stage.stagingTargetPath, stagingPath());
  // The real publish context (the vendor's answer), none of the fake one's keys.
  EXPECT_EQ(stage.publishContext,
            (std::map<std::string, std::string>{{"device-path", "/dev/xvdf"}}));
  auto publish = vm_->callsOf("NodePublishVolume").at(0);
  EXPECT_EQ(publish.targetPath, targetPath("pvc-1"));
  EXPECT_EQ(publish.stagingTargetPath, stagingPath());
  EXPECT_EQ(publish.publishContext,
            (std::map<std::string, std::string>{{"device-path", "/dev/xvdf"}}));
  EXPECT_EQ(vm_->callsOf("NodeUnpublishVolume").at(0).targetPath, targetPath("pvc-1"));
  EXPECT_EQ(vm_->callsOf("NodeUnstageVolume").at(0).stagingTargetPath, stagingPath());
  EXPECT_GE(podVmInfo_->calls(), 1);
}

// The podvm wrapper dies while the VM's node plugin is not up yet (its stage replay waiting);
// restarted, it keeps the CR's state (controllerPublishVolumeApplied) instead of claiming it
// back to peerPodVSIRunning, and replays stage and publish once each.
TEST_F(CsiWalk, PodVmWrapperRestartResumesFromTheCr) {
  startController();
  startNode();
  podVmInfo_->addVm(kPodNs, kPodName, "i-0123456789abcdef0");
  vm_.reset();  // the VM's node plugin is not running yet
  std::string volumeId = provisionAttachStagePublish("pvc-3");
  std::string name = csi::normalizeVolumeId(volumeId);
  startPodVm();
  waitState(name, csi::state::kControllerPublishVolumeApplied);
  std::this_thread::sleep_for(300ms);  // the stage replay is waiting for the driver
  EXPECT_EQ(stateOf(name), csi::state::kControllerPublishVolumeApplied);
  podvm_.kill(SIGKILL);

  vm_ = FakeCsiDriver::start(dir_ + "/vm-csi.sock", {.label = "in-VM"});
  ASSERT_TRUE(vm_);
  startPodVm();
  waitState(name, csi::state::kNodePublishVolumeApplied);
  EXPECT_EQ(vm_->methods(), (std::vector<std::string>{"NodeStageVolume", "NodePublishVolume"}));
  auto attach = worker_->callsOf("ControllerPublishVolume");
  ASSERT_EQ(attach.size(), 1u);
  EXPECT_EQ(attach[0].nodeId, "i-0123456789abcdef0");
  unpublishUnstageDetachDelete(volumeId, "pvc-3", true);
  EXPECT_EQ(worker_->callsOf("ControllerUnpublishVolume").at(0).nodeId, "i-0123456789abcdef0");
}

// A static PV (volumeAttributes peerpod: "true", no CreateVolume): the attach creates the CR
// with the placeholder name, NodePublishVolume names it after the PV in the target path, and
// the attribute never reaches the vendor.
TEST_F(CsiWalk, StaticPvIsNamedAtPublish) {
  startController();
  startNode();
  podVmInfo_->addVm(kPodNs, kPodName, "i-0static");
  ::csi::v1::ControllerPublishVolumeRequest publish;
  publish.set_volume_id("vol-static");
  publish.set_node_id(kNode);
  (*publish.mutable_volume_context())["peerpod"] = "true";
  (*publish.mutable_volume_context())["fsType"] = "ext4";
  ::csi::v1::ControllerPublishVolumeResponse published;
  auto st = controller_->ControllerPublishVolume(ctx().get(), publish, &published);
  ASSERT_TRUE(st.ok()) << st.error_message();
  auto v = cr("vol-static");
  ASSERT_TRUE(v);
  EXPECT_EQ(csi::specOf(*v, "volumeName"), csi::kVolumeNamePlaceholder);
  EXPECT_EQ(csi::stateOf(*v), csi::state::kControllerPublishVolumeCached);

  ::csi::v1::NodePublishVolumeRequest nodePublish;
  nodePublish.set_volume_id("vol-static");
  nodePublish.set_target_path(targetPath("pv-static"));
  ::csi::v1::NodePublishVolumeResponse nodePublished;
  st = node_->NodePublishVolume(ctx().get(), nodePublish, &nodePublished);
  ASSERT_TRUE(st.ok()) << st.error_message();
  v = cr("vol-static");
  ASSERT_TRUE(v);
  EXPECT_EQ(csi::specOf(*v, "volumeName"), "pv-static");
  EXPECT_EQ(csi::labelOf(*v, "volumeName"), "pv-static");

  // Another PV's target path for the same volume is refused.
  nodePublish.set_target_path(targetPath("pv-other"));
  st = node_->NodePublishVolume(ctx().get(), nodePublish, &nodePublished);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  startPodVm();
  waitState("vol-static", csi::state::kNodePublishVolumeApplied);
  auto attach = worker_->callsOf("ControllerPublishVolume");
  ASSERT_EQ(attach.size(), 1u);
  EXPECT_EQ(attach[0].nodeId, "i-0static");
  // No NodeStageVolume was cached (kubelet stages only for STAGE_UNSTAGE_VOLUME drivers).
  EXPECT_EQ(vm_->methods(), (std::vector<std::string>{"NodePublishVolume"}));
  ::csi::v1::ControllerPublishVolumeRequest replayed;
  ASSERT_TRUE(csi::fromJson(csi::specOf(*cr("vol-static"), "wrapperControllerPublishVolumeReq"),
                            &replayed));
  EXPECT_EQ(replayed.volume_context().count("peerpod"), 0u);
  EXPECT_EQ(replayed.volume_context().at("fsType"), "ext4");
}

// The pod goes away before its VM ever existed (no podvm wrapper, the adaptor knows no VM):
// kubelet's unpublish/unstage and the attacher's detach succeed without any vendor call, and the
// volume's delete leaves no CR. Nothing was attached anywhere.
TEST_F(CsiWalk, PodDeletedBeforeItsVmLeavesNoAttachmentAndNoCr) {
  startController();
  startNode();
  std::string volumeId = provisionAttachStagePublish("pvc-2");
  unpublishUnstageDetachDelete(volumeId, "pvc-2", false);
  EXPECT_EQ(worker_->methods(), (std::vector<std::string>{"CreateVolume", "DeleteVolume"}));
  EXPECT_TRUE(vm_->calls().empty());
  EXPECT_TRUE(api_->objects("peerpodvolumes", kNs).empty());
  EXPECT_EQ(podVmInfo_->calls(), 0);
}

// A volume that is not a peer-pod volume (no StorageClass peerpod parameter, no CR) is the
// vendor's own business: every call is forwarded as it came, and ControllerPublishVolume
// returns the vendor's answer (upstream fell through to the fake one).
TEST_F(CsiWalk, OrdinaryVolumesPassThrough) {
  startController();
  startNode();
  ::csi::v1::CreateVolumeRequest create;
  create.set_name("pvc-plain");
  (*create.mutable_parameters())["type"] = "gp3";
  ::csi::v1::CreateVolumeResponse created;
  ASSERT_TRUE(controller_->CreateVolume(ctx().get(), create, &created).ok());
  ::csi::v1::ControllerPublishVolumeRequest publish;
  publish.set_volume_id(created.volume().volume_id());
  publish.set_node_id(kNode);
  ::csi::v1::ControllerPublishVolumeResponse published;
  ASSERT_TRUE(controller_->ControllerPublishVolume(ctx().get(), publish, &published).ok());
  EXPECT_EQ(published.publish_context().size(), 1u);
  EXPECT_EQ(published.publish_context().at("device-path"), "/dev/xvdf");
  ::csi::v1::NodeStageVolumeRequest stage;
  stage.set_volume_id(created.volume().volume_id());
  stage.set_staging_target_path(stagingPath());
  ::csi::v1::NodeStageVolumeResponse staged;
  ASSERT_TRUE(node_->NodeStageVolume(ctx().get(), stage, &staged).ok());
  ::csi::v1::NodeGetInfoResponse nodeInfo;
  ASSERT_TRUE(node_->NodeGetInfo(ctx().get(), {}, &nodeInfo).ok());
  EXPECT_EQ(nodeInfo.node_id(), "worker-1");
  EXPECT_EQ(worker_->methods(), (std::vector<std::string>{"CreateVolume", "ControllerPublishVolume",
                                                          "NodeStageVolume", "NodeGetInfo"}));
  EXPECT_EQ(worker_->callsOf("ControllerPublishVolume").at(0).nodeId, kNode);
  EXPECT_TRUE(api_->objects("peerpodvolumes", kNs).empty());

  // SIGTERM: a clean exit, promptly (the informer's watch is cancelled), socket removed.
  EXPECT_EQ(ctrl_.terminate(10s), 0);
  EXPECT_EQ(nodeWrapper_.terminate(10s), 0);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/ctrl.sock"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/node.sock"));
}

}  // namespace
}  // namespace pp
