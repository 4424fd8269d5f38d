// The vsphere provider against govmomi's vCenter simulator (testing/vcsim): what a create and a
// delete do there, the certificate pinning, re-login after the session ends, sizing, DRS
// placement, a pod's whole life through the hypervisor service, and peerpod-ctrl's way of
// building the provider from its environment alone.
#include <gtest/gtest.h>

#include <thread>

#include "adaptor/testing/lifecycle.h"
#include "base/encoding.h"
#include "peerpod_ctrl/controller.h"
#include "providers/tags.h"
#include "providers/testing/provider_contract.h"
#include "providers/vsphere/testing/vsphere_harness.h"

namespace pp::providers::vsphere {
namespace {

using providers::testing::contractRequest;
using providers::testing::kUserDataSecret;
using providers::testing::LogCapture;
using testing::VsphereHarness;

class VsphereProviderTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(h.sim.url().empty()) << "the simulator did not start"; }
  VsphereHarness h;
};

TEST_F(VsphereProviderTest, CloneCarriesUserDataTagsAndIsDestroyedByUuid) {
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  auto req = contractRequest(1);
  auto inst = p->createInstance(req);
  ASSERT_TRUE(inst) << inst.error().message;
  auto vms = h.sim.vms();
  ASSERT_EQ(vms.size(), 1u);
  const auto& vm = vms.front();
  EXPECT_EQ(vm["name"], req.instanceName);
  EXPECT_EQ(vm["uuid"], inst->id);
  EXPECT_EQ(vm["power"], "poweredOn");
  EXPECT_EQ(vm["template"], false);
  EXPECT_EQ(vm["folder"], "pods");
  EXPECT_EQ(vm["ip"], inst->ips.front());
  // Upstream's keys and encoding, as the pod VM's cloud-init (VMware datasource) reads them.
  EXPECT_EQ(vm["extra"]["guestinfo.userdata.encoding"], "base64");
  auto decoded = encoding::base64Decode(vm["extra"]["guestinfo.userdata"].get<std::string>());
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, req.userData);
  EXPECT_EQ(vm["extra"][kTagSandbox], req.sandboxId);
  EXPECT_EQ(vm["extra"][kTagPod], "contract");
  EXPECT_EQ(vm["extra"][kTagNamespace], "default");
  EXPECT_EQ(vm["extra"][kTagNode], "worker-1");

  ASSERT_TRUE(p->deleteInstance(inst->id));
  EXPECT_TRUE(h.sim.vms().empty());
  // Gone is success (upstream reports an error).
  auto again = p->deleteInstance(inst->id);
  EXPECT_TRUE(again) << again.error().message;
}

TEST_F(VsphereProviderTest, SizingAnnotationsReconfigureTheCloneBeforePowerOn) {
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  auto req = contractRequest(2);
  req.spec.vcpus = 3;
  req.spec.memoryMiB = 3072;
  auto inst = p->createInstance(req);
  ASSERT_TRUE(inst) << inst.error().message;
  auto vms = h.sim.vms();
  ASSERT_EQ(vms.size(), 1u);
  EXPECT_EQ(vms[0]["cpus"], 3);
  EXPECT_EQ(vms[0]["memory_mb"], 3072);
  ASSERT_TRUE(p->deleteInstance(inst->id));
}

TEST_F(VsphereProviderTest, DrsPlacesTheCloneInTheCluster) {
  auto c = h.baseConfig();
  c.drs = "true";
  c.cluster = "DC0_C0";
  c.host.clear();
  c.datastore.clear();
  auto p = h.make(c);
  ASSERT_TRUE(p);
  auto inst = p->createInstance(contractRequest(3));
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_EQ(h.sim.vms().size(), 1u);
  ASSERT_TRUE(p->deleteInstance(inst->id));
  EXPECT_TRUE(h.sim.vms().empty());
}

TEST_F(VsphereProviderTest, HostInAClusterAndDeepDeployFolder) {
  auto c = h.baseConfig();
  c.cluster = "DC0_C0";
  c.host = "DC0_C0_H1";
  c.deployFolder = "a/b/c";
  auto p = h.make(c);
  ASSERT_TRUE(p);
  auto inst = p->createInstance(contractRequest(4));
  ASSERT_TRUE(inst) << inst.error().message;
  auto vms = h.sim.vms();
  ASSERT_EQ(vms.size(), 1u);
  EXPECT_EQ(vms[0]["folder"], "c");
  ASSERT_TRUE(p->deleteInstance(inst->id));
}

TEST_F(VsphereProviderTest, ATemplateThatIsAPlainVmIsRefusedAndNothingIsMade) {
  auto c = h.baseConfig();
  c.templateName = "DC0_C0_RP0_VM0";  // a powered-on VM of the model, not a template
  auto p = h.make(c);
  ASSERT_TRUE(p);
  auto inst = p->createInstance(contractRequest(5));
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().code, Code::kFailedPrecondition);
  EXPECT_NE(inst.error().message.find("not a template"), std::string::npos);
  EXPECT_TRUE(h.sim.vms().empty());
  // A missing template, datastore or host names its flag.
  c = h.baseConfig();
  c.templateName = "no-such-template";
  auto missing = h.make(c)->createInstance(contractRequest(5));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("-template"), std::string::npos);
  c = h.baseConfig();
  c.datastore = "NoSuchDS";
  auto noDs = h.make(c)->createInstance(contractRequest(5));
  ASSERT_FALSE(noDs);
  EXPECT_NE(noDs.error().message.find("-data-store"), std::string::npos);
  c = h.baseConfig();
  c.host = "NoSuchHost";
  auto noHost = h.make(c)->createInstance(contractRequest(5));
  ASSERT_FALSE(noHost);
  EXPECT_NE(noHost.error().message.find("-host"), std::string::npos);
  EXPECT_TRUE(h.sim.vms().empty());
}

TEST_F(VsphereProviderTest, TheImageAnnotationNamesAnotherTemplateForThatPodOnly) {
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  auto req = contractRequest(6);
  req.spec.image = "DC0_H0_VM1";  // not a template: refused, so the annotation was used
  auto inst = p->createInstance(req);
  ASSERT_FALSE(inst);
  EXPECT_NE(inst.error().message.find("DC0_H0_VM1"), std::string::npos);
  // The next pod without the annotation uses -template again.
  auto plain = p->createInstance(contractRequest(7));
  ASSERT_TRUE(plain) << plain.error().message;
  ASSERT_TRUE(p->deleteInstance(plain->id));
}

TEST_F(VsphereProviderTest, AWrongThumbprintIsRefusedBeforeAnyCredentialIsSent) {
  auto c = h.baseConfig();
  c.thumbprint = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33";
  auto p = VsphereProvider::create(c);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Code::kPermissionDenied);
  EXPECT_NE(p.error().message.find(h.sim.thumbprint()), std::string::npos) << p.error().message;
  EXPECT_NE(p.error().message.find("-thumbprint"), std::string::npos);
  EXPECT_TRUE(h.sim.sessionKeys().empty());
}

TEST_F(VsphereProviderTest, WithoutThumbprintTheCertificateIsVerifiedUnlessInsecureIsAsked) {
  auto c = h.baseConfig();
  c.thumbprint.clear();
  // The simulator's certificate is not from a CA the system trusts.
  auto p = VsphereProvider::create(c);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("-thumbprint"), std::string::npos) << p.error().message;
  EXPECT_NE(p.error().message.find("-vcenter-insecure"), std::string::npos);
  c.insecure = true;
  auto insecure = h.make(c);
  ASSERT_TRUE(insecure);
  auto inst = insecure->createInstance(contractRequest(8));
  ASSERT_TRUE(inst) << inst.error().message;
  ASSERT_TRUE(insecure->deleteInstance(inst->id));
}

TEST_F(VsphereProviderTest, WrongPasswordIsUnauthenticatedAndNotLogged) {
  auto c = h.baseConfig();
  c.password = "not-the-password-4c1d";
  std::string logged;
  {
    LogCapture capture;
    auto p = h.make(c);
    ASSERT_TRUE(p);
    auto inst = p->createInstance(contractRequest(9));
    ASSERT_FALSE(inst);
    EXPECT_EQ(inst.error().code, Code::kUnauthenticated) << inst.error().message;
    EXPECT_NE(inst.error().message.find("InvalidLogin"), std::string::npos);
    logged = capture.text();
  }
  EXPECT_EQ(logged.find("not-the-password-4c1d"), std::string::npos);
  EXPECT_TRUE(h.sim.vms().empty());
}

TEST_F(VsphereProviderTest, AnEndedSessionIsLoggedInAgain) {
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  auto inst = p->createInstance(contractRequest(10));
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_EQ(p->vim().logins(), 1);
  auto before = h.sim.sessionKeys();
  ASSERT_EQ(before.size(), 1u);
  // vCenter ends the session (expiry, an administrator): the next call gets NotAuthenticated.
  auto t = h.sim.command("terminate-sessions");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_TRUE(h.sim.sessionKeys().empty());
  auto st = p->deleteInstance(inst->id);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(p->vim().logins(), 2);
  EXPECT_TRUE(h.sim.vms().empty());
  auto after = h.sim.sessionKeys();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(after.front(), before.front());
}

TEST_F(VsphereProviderTest, ConcurrentCallsAfterAnEndedSessionLogInOnce) {
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->listInstances(""));
  ASSERT_TRUE(h.sim.command("terminate-sessions"));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) threads.emplace_back([&] { ok += p->listInstances("") ? 1 : 0; });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_EQ(p->vim().logins(), 2);
  EXPECT_EQ(h.sim.sessionKeys().size(), 1u);
}

TEST_F(VsphereProviderTest, KeepaliveLogsInAgainWhenTheSessionEnded) {
  auto c = h.baseConfig();
  c.keepalive = std::chrono::milliseconds(100);
  auto p = h.make(c);
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->listInstances(""));
  ASSERT_TRUE(h.sim.command("terminate-sessions"));
  for (int i = 0; i < 100 && p->vim().logins() < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(p->vim().logins(), 2);
  EXPECT_EQ(h.sim.sessionKeys().size(), 1u);
}

TEST_F(VsphereProviderTest, TeardownLogsOut) {
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->listInstances(""));
  EXPECT_EQ(h.sim.sessionKeys().size(), 1u);
  ASSERT_TRUE(p->teardown());
  EXPECT_TRUE(h.sim.sessionKeys().empty());
}

TEST_F(VsphereProviderTest, VerifyConfigChecksTheTemplate) {
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->verifyConfig());
  auto c = h.baseConfig();
  c.templateName = "DC0_H0_VM1";
  auto bad = h.make(c);
  ASSERT_TRUE(bad);
  auto st = bad->verifyConfig();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("not a template"), std::string::npos);
  c = h.baseConfig();
  c.password = "wrong-password";
  auto denied = h.make(c)->verifyConfig();
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, Code::kUnauthenticated);
}

// A pod's life as the shim drives it: exactly one VM while it runs, none after.
TEST_F(VsphereProviderTest, PodLifecycleThroughTheHypervisorServiceMakesOneVm) {
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  const std::string id = "0123456789abcdef0123";
  {
    adaptor::testing::LifecycleDriver driver(*p);
    ASSERT_TRUE(driver.createVM(id, {{"io.kubernetes.cri.sandbox-name", "web-1"},
                                     {"io.katacontainers.config.hypervisor.default_vcpus", "2"}}));
    EXPECT_TRUE(h.sim.vms().empty());
    auto st = driver.startVM(id);
    ASSERT_TRUE(st) << st.error().message;
    auto vms = h.sim.vms();
    ASSERT_EQ(vms.size(), 1u);
    EXPECT_EQ(vms[0]["uuid"], driver.instanceId(id));
    EXPECT_EQ(vms[0]["cpus"], 2);
    EXPECT_EQ(driver.vmIps(id), std::vector<std::string>{vms[0]["ip"].get<std::string>()});
    ASSERT_TRUE(driver.stopVM(id));
    EXPECT_EQ(driver.instanceId(id), "");
  }
  EXPECT_TRUE(h.sim.vms().empty());
}

// peerpod-ctrl builds the provider from peer-pods-cm/peer-pods-secret (its environment) alone
// and deletes the VM of a leaked PeerPod.
TEST_F(VsphereProviderTest, PeerpodCtrlDeletesALeakedVmFromItsEnvironment) {
  std::string id;
  {
    auto p = h.make(h.baseConfig());
    ASSERT_TRUE(p);
    auto inst = p->createInstance(contractRequest(11));
    ASSERT_TRUE(inst) << inst.error().message;
    id = inst->id;
  }
  auto env = flags::mapEnv({{"GOVC_USERNAME", testing::kVcsimUser},
                            {"GOVC_PASSWORD", testing::kVcsimPassword},
                            {"GOVC_URL", h.sim.url()},
                            {"GOVC_THUMBPRINT", h.sim.thumbprint()},
                            {"GOVC_DATACENTER", "DC0"},
                            {"GOVC_HOST", "DC0_H0"},
                            {"GOVC_DATASTORE", "LocalDS_0"},
                            {"GOVC_FOLDER", "peerpods/pods"}});
  auto provider = peerpod_ctrl::buildRegisteredProvider("vsphere", env);
  ASSERT_TRUE(provider) << provider.error().message;
  auto listed = (*provider)->listInstances("");
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().id, id);
  auto st = (*provider)->deleteInstance(id);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_TRUE(h.sim.vms().empty());
  EXPECT_TRUE((*provider)->teardown());
}

}  // namespace
}  // namespace pp::providers::vsphere
