// The byom provider against real sshd "pool VMs" (testing/sshd_pool.h) and the fake API
// server: user data and reboot trigger over SFTP, host keys (trust on first use, refusal of a
// changed key, allow-list), unreachable VMs, recovery and orphan release, the path
// peerpod-ctrl takes, two adaptors racing, and a pod's whole life through the adaptor.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "adaptor/testing/lifecycle.h"
#include "base/files.h"
#include "providers/byom/testing/byom_harness.h"
#include "providers/plugin_loader.h"
#include "providers/registry.h"

namespace pp::providers::byom {
namespace {

using testing::ByomHarness;
using testing::kNamespace;

CreateRequest request(const std::string& sandbox, const std::string& pod = "web") {
  CreateRequest r;
  r.podName = pod;
  r.podNamespace = "default";
  r.sandboxId = sandbox;
  r.instanceName = "podvm-" + pod + "-" + sandbox.substr(0, 8);
  r.userData = "#cloud-config\nwrite_files:\n- path: /run/peerpod/apf.json\n  content: '{}'\n";
  return r;
}

class ByomProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = testing::SshdPool::unavailable(); !why.empty()) GTEST_SKIP() << why;
    ASSERT_EQ(h.start(3), "");
  }
  // A configuration whose pool is the given VMs only.
  ByomConfig only(std::initializer_list<int> vms) {
    ByomConfig c = h.config();
    c.vmPoolIps.clear();
    for (int vm : vms) c.vmPoolIps += (c.vmPoolIps.empty() ? "" : ",") + h.pool.ip(vm);
    return c;
  }
  ByomHarness h;
};

TEST_F(ByomProviderTest, CreateSendsTheUserDataAndDeleteTheRebootTrigger) {
  auto p = h.make();
  ASSERT_TRUE(p);
  auto req = request("0123456789abcdef");
  auto inst = p->createInstance(req);
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_EQ(inst->ips, std::vector<std::string>{inst->id});
  EXPECT_EQ(inst->name, req.instanceName);
  int vm = h.vmOf(inst->id);
  EXPECT_EQ(h.pool.cidataFile(vm, "user-data"), req.userData);
  EXPECT_FALSE(h.pool.hasCidataFile(vm, "reboot"));
  auto st = h.stored();
  ASSERT_EQ(st.allocated.size(), 1u);
  const auto& a = st.allocated.at("web-0123456789abcdef");  // upstream's allocation id
  EXPECT_EQ(a.ip, inst->id);
  EXPECT_EQ(a.nodeName, "node-a");
  EXPECT_EQ(a.podName, "web");
  EXPECT_EQ(a.sandboxId, "0123456789abcdef");
  EXPECT_EQ(st.available.size(), 2u);

  ASSERT_TRUE(p->deleteInstance(inst->id));
  EXPECT_EQ(h.pool.cidataFile(vm, "reboot"), "reboot");
  st = h.stored();
  EXPECT_TRUE(st.allocated.empty());
  EXPECT_EQ(st.available.size(), 3u);
}

TEST_F(ByomProviderTest, ARetriedCreateGetsTheSameVm) {
  auto p = h.make();
  auto first = p->createInstance(request("0123456789abcdef"));
  auto again = p->createInstance(request("0123456789abcdef"));
  ASSERT_TRUE(first && again);
  EXPECT_EQ(first->id, again->id);
  EXPECT_EQ(h.stored().allocated.size(), 1u);
}

TEST_F(ByomProviderTest, AFullPoolIsResourceExhaustedNamingTheFlag) {
  auto p = h.make(only({0}));
  ASSERT_TRUE(p->createInstance(request("aaaaaaaaaaaaaaaa")));
  auto full = p->createInstance(request("bbbbbbbbbbbbbbbb"));
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, Code::kResourceExhausted);
  EXPECT_NE(full.error().message.find("-vm-pool-ips"), std::string::npos);
}

TEST_F(ByomProviderTest, HostKeyIsTrustedOnFirstUseAndAChangedOneRefused) {
  auto p = h.make(only({1}));
  auto inst = p->createInstance(request("aaaaaaaaaaaaaaaa"));
  ASSERT_TRUE(inst) << inst.error().message;
  auto known = p->store().read()->hostKeys;
  ASSERT_EQ(known.size(), 1u);
  EXPECT_EQ(known.begin()->first, h.pool.ip(1));
  auto fp = fingerprintsOfPublicKeys(*files::readFile(h.pool.hostKeyPubPath(1)));
  ASSERT_TRUE(fp);
  EXPECT_EQ(known.begin()->second, *fp->begin());
  ASSERT_TRUE(p->deleteInstance(inst->id));

  h.pool.clearCidata(1);
  ASSERT_EQ(h.pool.replaceHostKey(1), "");
  auto refused = p->createInstance(request("bbbbbbbbbbbbbbbb"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Code::kFailedPrecondition);
  EXPECT_NE(refused.error().message.find("changed"), std::string::npos) << refused.error().message;
  EXPECT_NE(refused.error().message.find("ssh-host-keys"), std::string::npos);
  EXPECT_FALSE(h.pool.hasCidataFile(1, "user-data")) << "user data sent to an unknown host";
  EXPECT_TRUE(h.stored().allocated.empty()) << "the failed create kept its allocation";
  // A restarted adaptor remembers the key too (it is in the ConfigMap).
  auto restarted = h.make(only({1}));
  EXPECT_FALSE(restarted->createInstance(request("cccccccccccccccc")));
}

TEST_F(ByomProviderTest, AllowListAcceptsListedKeysAndRefusesOthers) {
  const std::string dir = h.pool.dir() + "/allow";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(h.pool.hostKeyPubPath(0), dir + "/vm0.pub");
  std::filesystem::copy_file(h.pool.hostKeyPubPath(2), dir + "/vm2.txt");  // not *.pub: ignored
  auto c = only({0});
  c.sshHostKeyAllowlistDir = dir;
  auto p = h.make(c);
  ASSERT_TRUE(p);
  auto ok = p->createInstance(request("aaaaaaaaaaaaaaaa"));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_TRUE(p->store().read()->hostKeys.empty()) << "allow-list mode remembers nothing";

  c = only({2});
  c.sshHostKeyAllowlistDir = dir;
  auto other = h.make(c);
  auto refused = other->createInstance(request("bbbbbbbbbbbbbbbb"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Code::kPermissionDenied);
  EXPECT_NE(refused.error().message.find("allowlist"), std::string::npos);
  EXPECT_FALSE(h.pool.hasCidataFile(2, "user-data"));
}

TEST_F(ByomProviderTest, BadAllowListDirectoriesAreRefusedAtStart) {
  auto c = h.config();
  c.sshHostKeyAllowlistDir = h.pool.dir() + "/missing";
  auto p = ByomProvider::create(c, h.deps());
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("-ssh-host-key-allowlist-dir"), std::string::npos);
  const std::string dir = h.pool.dir() + "/bad";
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(files::writeAtomic(dir + "/x.pub", "ssh-ed25519 not-base64!\n"));
  c.sshHostKeyAllowlistDir = dir;
  EXPECT_FALSE(ByomProvider::create(c, h.deps()));
  std::filesystem::remove(dir + "/x.pub");
  for (int i = 0; i < 101; ++i)
    std::filesystem::copy_file(h.pool.hostKeyPubPath(0), dir + "/k" + std::to_string(i) + ".pub");
  auto tooMany = ByomProvider::create(c, h.deps());
  ASSERT_FALSE(tooMany);
  EXPECT_NE(tooMany.error().message.find("100"), std::string::npos);
}

TEST_F(ByomProviderTest, BadSettingsNameTheirFlag) {
  auto c = h.config();
  c.vmPoolIps = "";
  auto p = ByomProvider::create(c, h.deps());
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("-vm-pool-ips"), std::string::npos);
  c = h.config();
  std::filesystem::permissions(
      c.sshPrivKeyPath, std::filesystem::perms::owner_read | std::filesystem::perms::group_read);
  p = ByomProvider::create(c, h.deps());
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("-ssh-priv-key"), std::string::npos);
  EXPECT_NE(p.error().message.find("group or others"), std::string::npos);
  std::filesystem::permissions(c.sshPrivKeyPath, std::filesystem::perms::owner_read);
  EXPECT_TRUE(ByomProvider::create(c, h.deps())) << "a Secret mounted 0400 is fine";
  c.sshPubKeyPath = h.pool.hostKeyPubPath(0);  // someone else's public key
  p = ByomProvider::create(c, h.deps());
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("-ssh-pub-key"), std::string::npos);
  c.sshPubKeyPath = h.pool.dir() + "/no-such.pub";  // not needed
  EXPECT_TRUE(ByomProvider::create(c, h.deps()));
  c.sshPrivKeyPath = h.config().sshPubKeyPath;  // not a private key
  std::filesystem::permissions(
      c.sshPrivKeyPath, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_FALSE(ByomProvider::create(c, h.deps()));
}

TEST_F(ByomProviderTest, AnUnreachableVmFailsTheCreateAndStaysInThePool) {
  h.pool.stopVm(0);
  auto p = h.make(only({0}));
  auto inst = p->createInstance(request("aaaaaaaaaaaaaaaa"));
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().code, Code::kUnavailable);
  EXPECT_NE(inst.error().message.find(h.pool.ip(0)), std::string::npos);
  auto st = h.stored();
  EXPECT_TRUE(st.allocated.empty());
  EXPECT_EQ(st.available, std::vector<std::string>{h.pool.ip(0)});
}

TEST_F(ByomProviderTest, AVmThatCannotBeResetDrainsInsteadOfGoingToTheNextPod) {
  auto p = h.make(only({0}));
  auto inst = p->createInstance(request("aaaaaaaaaaaaaaaa"));
  ASSERT_TRUE(inst) << inst.error().message;
  h.pool.stopVm(0);
  auto del = p->deleteInstance(inst->id);
  ASSERT_FALSE(del) << "an unreachable VM was reported deleted";
  EXPECT_EQ(del.error().code, Code::kUnavailable);
  EXPECT_NE(del.error().message.find("draining"), std::string::npos);
  auto st = h.stored();
  ASSERT_EQ(st.allocated.size(), 1u);
  EXPECT_NE(st.allocated.begin()->second.drainingSince, 0);
  EXPECT_TRUE(st.available.empty());
  auto next = p->createInstance(request("bbbbbbbbbbbbbbbb"));
  ASSERT_FALSE(next);
  EXPECT_EQ(next.error().code, Code::kResourceExhausted);
  EXPECT_NE(next.error().message.find("1 of them draining"), std::string::npos);

  ASSERT_EQ(h.pool.startVm(0), "");
  ASSERT_TRUE(p->deleteInstance(inst->id));  // the adaptor's (or peerpod-ctrl's) retry
  EXPECT_EQ(h.pool.cidataFile(0, "reboot"), "reboot");
  EXPECT_TRUE(h.stored().allocated.empty());
  EXPECT_TRUE(p->createInstance(request("bbbbbbbbbbbbbbbb")));
}

// Every step of a create that can fail leaves the pool as it was: no allocation, no user data
// on the machine.
TEST_F(ByomProviderTest, EveryFailingStepOfACreateLeavesThePoolWhole) {
  auto p = h.make(only({0}));
  ASSERT_TRUE(p);
  auto expectWhole = [&](const char* step) {
    auto st = h.stored();
    EXPECT_TRUE(st.allocated.empty()) << step;
    EXPECT_EQ(st.available, std::vector<std::string>{h.pool.ip(0)}) << step;
    EXPECT_FALSE(h.pool.hasCidataFile(0, "user-data")) << step;
  };
  // 1. The allocation cannot be written (the API server keeps failing).
  h.api->failNext("PUT", "configmaps", 500, "InternalError", 4);  // every retry
  auto r = p->createInstance(request("aaaaaaaaaaaaaaaa"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kInternal) << r.error().message;
  EXPECT_NE(r.error().message.find("byom-ip-pool-state"), std::string::npos);
  expectWhole("allocation write");
  // 2. The machine does not answer on port 22.
  h.pool.stopVm(0);
  r = p->createInstance(request("bbbbbbbbbbbbbbbb"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kUnavailable) << r.error().message;
  ASSERT_EQ(h.pool.startVm(0), "");
  expectWhole("readiness");
  // 3. Our key is refused by the machine.
  const std::string otherKey = h.pool.dir() + "/other_ed25519";
  ASSERT_EQ(std::system(("ssh-keygen -q -t ed25519 -N '' -f " + otherKey + " >/dev/null").c_str()),
            0);
  auto c = only({0});
  c.sshPrivKeyPath = otherKey;
  c.sshPubKeyPath = otherKey + ".pub";
  auto stranger = h.make(c);
  ASSERT_TRUE(stranger);
  r = stranger->createInstance(request("cccccccccccccccc"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kUnauthenticated) << r.error().message;
  expectWhole("authentication");
  // 4. The SFTP write fails.
  std::filesystem::create_directories(h.pool.mediaDir(0) + "/cidata/user-data");
  r = p->createInstance(request("dddddddddddddddd"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kInternal) << r.error().message;
  EXPECT_NE(r.error().message.find("cidata/user-data"), std::string::npos);
  std::filesystem::remove(h.pool.mediaDir(0) + "/cidata/user-data");
  expectWhole("sftp write");
  // And then a create works.
  auto ok = p->createInstance(request("eeeeeeeeeeeeeeee"));
  EXPECT_TRUE(ok) << ok.error().message;
}

TEST_F(ByomProviderTest, DeletingAVmNoAllocationHoldsLeavesItAlone) {
  auto p = h.make();
  ASSERT_TRUE(p->deleteInstance(h.pool.ip(2)));
  EXPECT_FALSE(h.pool.hasCidataFile(2, "reboot")) << "upstream resets whatever the VM runs now";
  EXPECT_TRUE(p->deleteInstance(""));
  auto bad = p->deleteInstance("i-0123");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Code::kInvalidArgument);
}

TEST_F(ByomProviderTest, RecoveryKeepsLiveAllocationsAndReleasesOrphansAfterTheGrace) {
  auto p = h.make();
  auto live = p->createInstance(request("1111111111111111", "live"));
  auto fresh = p->createInstance(request("2222222222222222", "fresh"));
  auto orphan = p->createInstance(request("3333333333333333", "orphan"));
  ASSERT_TRUE(live && fresh && orphan);
  // "live" and "orphan" were allocated an hour ago; only "live" has a PeerPod.
  auto st = h.stored();
  st.allocated.at("live-1111111111111111").allocatedAt -= 3600;
  st.allocated.at("orphan-3333333333333333").allocatedAt -= 3600;
  st.available.clear();  // damaged: recovery recomputes it
  h.storeState(st);
  h.api->seed("peerpods", {{"apiVersion", "confidentialcontainers.org/v1alpha1"},
                           {"kind", "PeerPod"},
                           {"metadata", {{"name", "live-podvm"}, {"namespace", "default"}}},
                           {"spec", {{"cloudProvider", "byom"}, {"instanceID", live->id}}}});
  auto restarted = h.make();  // recovery runs at start
  st = h.stored();
  EXPECT_TRUE(st.allocated.contains("live-1111111111111111"));
  EXPECT_TRUE(st.allocated.contains("fresh-2222222222222222")) << "released within the grace";
  EXPECT_FALSE(st.allocated.contains("orphan-3333333333333333"));
  EXPECT_EQ(st.available, std::vector<std::string>{orphan->id});
  EXPECT_EQ(h.pool.cidataFile(h.vmOf(orphan->id), "reboot"), "reboot");
  EXPECT_FALSE(h.pool.hasCidataFile(h.vmOf(live->id), "reboot"));
}

TEST_F(ByomProviderTest, RecoveryDrainsAnOrphanThatIsDownAndReleasesItOnceUp) {
  auto p = h.make(only({0}));
  auto orphan = p->createInstance(request("3333333333333333", "orphan"));
  ASSERT_TRUE(orphan);
  auto st = h.stored();
  st.allocated.at("orphan-3333333333333333").allocatedAt -= 3600;
  h.storeState(st);
  h.pool.stopVm(0);
  auto restarted = h.make(only({0}));
  st = h.stored();
  ASSERT_EQ(st.allocated.size(), 1u);
  EXPECT_NE(st.allocated.begin()->second.drainingSince, 0) << "an unreachable orphan is draining";
  EXPECT_TRUE(st.available.empty());
  ASSERT_EQ(h.pool.startVm(0), "");
  auto again = h.make(only({0}));
  EXPECT_TRUE(h.stored().allocated.empty());
  EXPECT_EQ(h.pool.cidataFile(0, "reboot"), "reboot");
}

TEST_F(ByomProviderTest, AZeroGraceKeepsEveryAllocationAsUpstream) {
  auto p = h.make();
  auto orphan = p->createInstance(request("3333333333333333", "orphan"));
  ASSERT_TRUE(orphan);
  auto c = h.config();
  c.orphanGracePeriod = std::chrono::nanoseconds(0);
  auto restarted = h.make(c);
  EXPECT_EQ(h.stored().allocated.size(), 1u);
}

// peerpod-ctrl builds the provider from peer-pods-cm's keys alone (no command line) and
// deletes the instance of a leaked PeerPod: the allocation must be released.
TEST_F(ByomProviderTest, PeerpodCtrlsProviderFromTheEnvironmentReleasesTheAllocation) {
  auto p = h.make();
  auto inst = p->createInstance(request("0123456789abcdef"));
  ASSERT_TRUE(inst);
  p.reset();
  const std::string kubeconfig = h.pool.dir() + "/kubeconfig";
  ASSERT_TRUE(files::writeAtomic(kubeconfig,
                                 "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
                                 "    server: " +
                                     h.api->url() +
                                     "\ncontexts:\n- name: c\n  context:\n    cluster: c\n"
                                     "    user: u\ncurrent-context: c\nusers:\n- name: u\n"
                                     "  user: {}\n"));
  ASSERT_EQ(setenv("KUBECONFIG", kubeconfig.c_str(), 1), 0);
  auto c = h.config();
  auto env = flags::mapEnv({{"VM_POOL_IPS", h.pool.ip(0) + "-" + h.pool.ip(2)},
                            {"SSH_USERNAME", "root"},
                            {"SSH_PRIV_KEY_PATH", c.sshPrivKeyPath},
                            {"POOL_NAMESPACE", kNamespace},
                            {"SSH_TIMEOUT", "5"}});
  auto setup = lookupProvider("byom", registry(), env);
  ASSERT_TRUE(setup) << setup.error().message;
  flags::FlagSet fs("byom", env);
  (*setup)->registerFlags(fs);
  ASSERT_TRUE(fs.validate());
  auto ctrl = (*setup)->build();
  unsetenv("KUBECONFIG");
  ASSERT_TRUE(ctrl) << ctrl.error().message;
  auto st = (*ctrl)->deleteInstance(inst->id);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_TRUE(h.stored().allocated.empty());
  EXPECT_EQ(h.stored().available.size(), 3u);
  EXPECT_EQ(h.pool.cidataFile(h.vmOf(inst->id), "reboot"), "reboot");
}

// A pod's whole life through the adaptor (shim calls over ttrpc): the pool VM gets the user
// data at StartVM, the reboot trigger at StopVM, and is back in the pool.
TEST_F(ByomProviderTest, APodsLifeThroughTheAdaptor) {
  auto p = h.make(only({1}));
  adaptor::testing::LifecycleDriver driver(*p);
  const std::string id = "fedcba9876543210";
  ASSERT_TRUE(driver.createVM(id, {{"io.kubernetes.cri.sandbox-name", "web-1"}}));
  EXPECT_TRUE(h.stored().allocated.empty());
  auto started = driver.startVM(id);
  ASSERT_TRUE(started) << started.error().message;
  EXPECT_EQ(driver.instanceId(id), h.pool.ip(1));
  EXPECT_EQ(driver.vmIps(id), std::vector<std::string>{h.pool.ip(1)});
  const std::string userData = h.pool.cidataFile(1, "user-data");
  EXPECT_EQ(userData.rfind("#cloud-config", 0), 0u) << userData.substr(0, 40);
  EXPECT_NE(userData.find("/run/peerpod/apf.json"), std::string::npos);
  EXPECT_FALSE(h.pool.hasCidataFile(1, "reboot"));
  EXPECT_EQ(h.stored().allocated.size(), 1u);
  ASSERT_TRUE(driver.stopVM(id));
  EXPECT_EQ(h.pool.cidataFile(1, "reboot"), "reboot");
  EXPECT_TRUE(h.stored().allocated.empty());
  EXPECT_EQ(h.stored().available, std::vector<std::string>{h.pool.ip(1)});
}

// Two adaptors (two providers, two API clients) create 100 pod VMs at once from a pool of 100
// on one API server (one sshd answers on all 100 addresses): no VM is handed out twice and no
// allocation is lost; then they delete them all and the pool is whole again.
TEST(ByomRaceTest, TwoAdaptorsRacingHandEachVmOutOnce) {
  if (auto why = testing::SshdPool::unavailable(); !why.empty()) GTEST_SKIP() << why;
  ByomHarness h;
  ASSERT_EQ(h.start(1, 100), "");
  auto c = h.config();
  c.vmPoolIps = h.pool.sharedIps().front() + "-" + h.pool.sharedIps().back();
  auto a = h.make(c), b = h.make(c);
  ASSERT_TRUE(a && b);
  std::vector<std::string> ids(100);
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      ByomProvider& p = t % 2 ? *b : *a;
      for (int i = t; i < 100; i += 8) {
        char sandbox[17];
        std::snprintf(sandbox, sizeof sandbox, "%016x", 0xace0000 + i);
        auto inst = p.createInstance(request(sandbox, "race"));
        if (!inst) {
          ++failed;
          ADD_FAILURE() << inst.error().message;
          continue;
        }
        ids[i] = inst->id;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 100u) << "a VM went twice";
  auto st = h.stored();
  EXPECT_EQ(st.allocated.size(), 100u) << "an allocation was lost";
  EXPECT_TRUE(st.available.empty());
  threads.clear();
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      ByomProvider& p = t % 2 ? *b : *a;
      for (int i = t; i < 100; i += 8)
        if (!ids[i].empty()) {
          EXPECT_TRUE(p.deleteInstance(ids[i]));
        }
    });
  for (auto& t : threads) t.join();
  st = h.stored();
  EXPECT_TRUE(st.allocated.empty());
  EXPECT_EQ(std::set<std::string>(st.available.begin(), st.available.end()).size(), 100u);
  EXPECT_EQ(st.available.size(), 100u);
}

}  // namespace
}  // namespace pp::providers::byom
