// SandboxManager on its own: in-memory provider, pod network, Kubernetes hooks, state store and
// agent proxy; the certificate issuer is the real in-process one. No VM, socket, network
// namespace or child process; the only files are the issuer's and the apf.json debug copies
// under a temporary directory.
#include "adaptor/sandbox_manager.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "adaptor/cert_issuer.h"
#include "adaptor/testing/memory_parts.h"
#include "apf/apf_config.h"
#include "base/log.h"

namespace pp::adaptor {
namespace {

using namespace std::chrono_literals;
using namespace pp::adaptor::testing;

const std::string kId = "0123456789abcdef";

Annotations podAnnotations(const std::string& pod) {
  return {{kSandboxNameAnnotation, pod},
          {kSandboxNamespaceAnnotation, "team"},
          {std::string(kHypervisorAnnotationPrefix) + "default_vcpus", "2"},
          {std::string(kHypervisorAnnotationPrefix) + "default_memory", "2048"}};
}

CreateVmInput createInput(const std::string& id = kId, const std::string& netns = "/run/netns/p") {
  return {id, podAnnotations("web-0"), netns};
}

class SandboxManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    podsDir_ = std::filesystem::temp_directory_path() /
               ("sandbox-manager-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(podsDir_);
    auto real = OpensslCertIssuer::loadOrCreate((podsDir_ / "tls").string());
    ASSERT_TRUE(real) << real.error().message;
    issuer_ = std::make_unique<RecordingCertIssuer>(std::move(*real));
  }
  void TearDown() override { std::filesystem::remove_all(podsDir_); }

  // A manager over the test's fakes; a second one over the same store is a restarted adaptor.
  std::unique_ptr<SandboxManager> makeManager(bool withKube = true) {
    ManagerOptions o;
    o.podsDir = podsDir_.string();
    o.prepareApf = prepareApf_;
    o.forgetSandbox = [this](const std::string& id) { forgotten_.push_back(id); };
    auto m = std::make_unique<SandboxManager>(
        o, provider_, store_, network_, issuer_.get(), io_.get_executor(),
        [this](AgentProxyOptions po) -> std::shared_ptr<SandboxProxy> {
          proxies_.made.push_back(po);
          return std::make_shared<MemoryProxy>(proxies_);
        });
    if (withKube) m->setKubeHooks(&kube_);
    return m;
  }

  Status start(SandboxManager& m, const std::string& id = kId) {
    return m.startVM(id, Clock::now() + 5s);
  }

  // What a previous adaptor left behind: a sandbox created (and started) by it, whose saved
  // phase is then `phase`, as if that adaptor had died in the middle of a call.
  SandboxState leftBehind(bool started, std::optional<Phase> phase = std::nullopt) {
    {
      auto m = makeManager();
      EXPECT_TRUE(m->createVM(createInput()));
      if (started) {
        EXPECT_TRUE(start(*m));
      }
    }  // the adaptor stops; the VM keeps running
    auto s = store_.state(kId);
    EXPECT_TRUE(s);
    if (phase) {
      s->phase = *phase;
      EXPECT_TRUE(store_.save(*s, files::Durability::kDurable));
    }
    return *s;
  }

  std::string apfJson(const std::string& id = kId) const {
    return (podsDir_ / id / "apf.json").string();
  }

  std::filesystem::path podsDir_;
  asio::io_context io_;
  MemoryProvider provider_;
  MemoryPodNetwork network_;
  MemoryKube kube_;
  MemoryStateStore store_;
  std::unique_ptr<RecordingCertIssuer> issuer_;
  ProxyLog proxies_;
  // ManagerOptions' secure comms hooks: prepareApf as given, forgetSandbox records its ids.
  std::function<Status(const std::string&, apf::ApfConfig&)> prepareApf_;
  std::vector<std::string> forgotten_;
};

TEST_F(SandboxManagerTest, CreateStartStopPersistEachPhase) {
  auto m = makeManager();
  auto socket = m->createVM(createInput());
  ASSERT_TRUE(socket) << socket.error().message;
  EXPECT_EQ(*socket, podsDir_.string() + "/" + kId + "/agent.ttrpc");

  // CreateVM: the sandbox is recorded with its network and the VM's user data; nothing in the
  // cloud yet.
  auto created = store_.state(kId);
  ASSERT_TRUE(created);
  EXPECT_EQ(created->phase, Phase::kCreated);
  EXPECT_EQ(created->podName, "web-0");
  EXPECT_EQ(created->podNamespace, "team");
  EXPECT_EQ(created->podUid, "uid-1");
  EXPECT_EQ(created->instanceName, instanceName("web-0", kId));
  EXPECT_EQ(created->spec.vcpus, 2u);
  EXPECT_EQ(created->spec.memoryMiB, 2048u);
  ASSERT_TRUE(created->network);
  EXPECT_EQ(created->vni(), 7000u);
  EXPECT_EQ(created->clientKeyPem, issuer_->clientBundle().clientKeyPem);
  EXPECT_TRUE(provider_.requests.empty());
  EXPECT_EQ(network_.vnis, std::set<uint32_t>{7000});
  ASSERT_EQ(issuer_->issued.size(), 1u);
  EXPECT_EQ(issuer_->issued[0].first, created->instanceName);

  // The VM's apf.json is the typed config as the VM reads it, and its debug copy is private.
  ASSERT_TRUE(std::filesystem::exists(apfJson()));
  struct stat st {};
  ASSERT_EQ(::stat(apfJson().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(created->userData.find("/run/peerpod/apf.json"), std::string::npos);
  std::ifstream in(apfJson());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto apf = apf::ApfConfig::parse(text);
  ASSERT_TRUE(apf) << apf.error().message;
  EXPECT_EQ(apf->podNetwork, created->network);
  EXPECT_EQ(apf->tlsServerKey, issuer_->issued[0].second);
  EXPECT_EQ(apf->tlsClientCa, issuer_->clientCaPem());

  // StartVM: starting before the provider call, the instance as soon as it exists, running
  // once the agent answers.
  ASSERT_TRUE(start(*m));
  EXPECT_EQ(store_.phases(), (std::vector<Phase>{Phase::kCreated, Phase::kStarting,
                                                 Phase::kStarting, Phase::kRunning}));
  EXPECT_TRUE(store_.history[1].instanceId.empty());
  EXPECT_EQ(store_.history[2].instanceId, "i-" + created->instanceName);
  // Only CreateVM's save may be lost to a power cut: from the intent to create on, every state
  // names an instance that may exist, and is on disk before anything goes on.
  using files::Durability;
  EXPECT_EQ(store_.durabilities,
            (std::vector<Durability>{Durability::kReplaceOnly, Durability::kDurable,
                                     Durability::kDurable, Durability::kDurable}));
  EXPECT_EQ(store_.history[2].peerPodName, created->instanceName);
  auto running = store_.state(kId);
  ASSERT_TRUE(running);
  EXPECT_EQ(running->phase, Phase::kRunning);
  EXPECT_EQ(running->ips, std::vector<std::string>{"198.18.0.10"});
  EXPECT_NE(running->startedAt, 0);
  ASSERT_EQ(provider_.requests.size(), 1u);
  EXPECT_EQ(provider_.requests[0].userData, created->userData);
  EXPECT_EQ(provider_.requests[0].sandboxId, kId);
  EXPECT_EQ(network_.tunnels["/run/netns/p"].first, 7000u);
  EXPECT_EQ(network_.tunnels["/run/netns/p"].second, running->ips);
  ASSERT_EQ(proxies_.made.size(), 1u);
  EXPECT_EQ(proxies_.made[0].vmHost, "198.18.0.10");
  EXPECT_EQ(proxies_.made[0].serverName, created->instanceName);
  EXPECT_TRUE(proxies_.made[0].tls);
  EXPECT_EQ(proxies_.started, 1);
  EXPECT_EQ(kube_.events,
            (std::vector<std::string>{"CreatingPodVM", "PodVMCreated", "PodVMAgentConnected"}));
  auto vm = m->vmId("web-0", "team", false, Clock::now());
  ASSERT_TRUE(vm);
  EXPECT_EQ(*vm, "i-" + created->instanceName);
  // A repeated StartVM of a running sandbox is a no-op.
  EXPECT_TRUE(start(*m));
  EXPECT_EQ(provider_.requests.size(), 1u);

  // StopVM: stopping is saved first, then everything goes.
  size_t saves = store_.history.size();
  ASSERT_TRUE(m->stopVM(kId));
  ASSERT_EQ(store_.history.size(), saves + 1);
  EXPECT_EQ(store_.history.back().phase, Phase::kStopping);
  EXPECT_TRUE(store_.files.empty());
  EXPECT_FALSE(std::filesystem::exists(apfJson()));
  EXPECT_TRUE(provider_.live.empty());
  EXPECT_TRUE(network_.tunnels.empty());
  EXPECT_TRUE(network_.vnis.empty());
  EXPECT_TRUE(kube_.peerPods.empty());
  EXPECT_EQ(proxies_.shutdowns, 1);
  EXPECT_EQ(m->sandboxCount(), 0u);
}

TEST_F(SandboxManagerTest, RetriedCreateAnswersTheSameSocketAndAnotherPhaseRefuses) {
  auto m = makeManager();
  auto first = m->createVM(createInput());
  ASSERT_TRUE(first);
  auto again = m->createVM(createInput());
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *first);
  EXPECT_EQ(network_.vnis.size(), 1u);
  ASSERT_TRUE(start(*m));
  auto running = m->createVM(createInput());
  ASSERT_FALSE(running);
  EXPECT_EQ(running.error().code, Code::kAlreadyExists);
}

TEST_F(SandboxManagerTest, WithoutANetnsThereIsNoTunnel) {
  auto m = makeManager(/*withKube=*/false);
  ASSERT_TRUE(m->createVM(createInput(kId, "")));
  auto s = store_.state(kId);
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->network);
  EXPECT_EQ(s->vni(), 0u);
  ASSERT_TRUE(start(*m));
  EXPECT_TRUE(network_.tunnels.empty());
  ASSERT_TRUE(m->stopVM(kId));
  EXPECT_EQ(network_.teardowns, 0);
}

TEST_F(SandboxManagerTest, FailedCreateLeavesNoNetworkStateOrCertificateCopy) {
  auto m = makeManager();
  auto expectNothingLeft = [&](const char* what) {
    EXPECT_TRUE(network_.vnis.empty()) << what;
    EXPECT_TRUE(store_.files.empty()) << what;
    EXPECT_FALSE(std::filesystem::exists(apfJson())) << what;
    EXPECT_EQ(m->sandboxCount(), 0u) << what;
    EXPECT_TRUE(provider_.requests.empty()) << what;
  };

  issuer_->refuse = true;
  auto r = m->createVM(createInput());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("issuing the pod VM's certificate"), std::string::npos)
      << r.error().message;
  expectNothingLeft("issuer");
  issuer_->refuse = false;

  store_.saveError = "disk full";
  r = m->createVM(createInput());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("disk full"), std::string::npos);
  expectNothingLeft("state store");
  store_.saveError.clear();

  network_.inspectError = "no eth0";
  r = m->createVM(createInput());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("inspecting pod network /run/netns/p"), std::string::npos);
  expectNothingLeft("network");
  network_.inspectError.clear();

  // Nothing of the failed attempts is in the way.
  EXPECT_TRUE(m->createVM(createInput()));
}

TEST_F(SandboxManagerTest, FailedProviderCreateIsRecordedAndStopVmCleansUp) {
  auto m = makeManager();
  ASSERT_TRUE(m->createVM(createInput()));
  provider_.createError = "quota exceeded";
  auto st = start(*m);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("quota exceeded"), std::string::npos);
  auto failed = store_.state(kId);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->phase, Phase::kFailed);
  EXPECT_NE(failed->lastError.find("quota exceeded"), std::string::npos);
  EXPECT_TRUE(failed->instanceId.empty());
  EXPECT_TRUE(provider_.deleted.empty());  // there was nothing to delete
  EXPECT_TRUE(network_.tunnels.empty());
  EXPECT_EQ(proxies_.made.size(), 0u);
  EXPECT_EQ(kube_.events.back(), "PodVMFailed");

  // A failed sandbox may be started again.
  provider_.createError.clear();
  ASSERT_TRUE(start(*m));
  EXPECT_EQ(store_.state(kId)->phase, Phase::kRunning);

  // Or stopped: its VNI, state and apf.json copy (with the VM's key) go.
  ASSERT_TRUE(m->stopVM(kId));
  EXPECT_TRUE(network_.vnis.empty());
  EXPECT_TRUE(store_.files.empty());
  EXPECT_FALSE(std::filesystem::exists(apfJson()));
}

TEST_F(SandboxManagerTest, FailedStartDeletesTheInstance) {
  auto m = makeManager();
  ASSERT_TRUE(m->createVM(createInput()));
  proxies_.startResult = fail(Code::kDeadlineExceeded, "agent did not answer");
  auto st = start(*m);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Code::kDeadlineExceeded);
  EXPECT_NE(st.error().message.find("connecting to the pod VM's agent"), std::string::npos);
  auto s = store_.state(kId);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->phase, Phase::kFailed);
  EXPECT_TRUE(s->instanceId.empty());
  EXPECT_TRUE(s->ips.empty());
  EXPECT_EQ(provider_.deleted.size(), 1u);
  EXPECT_TRUE(provider_.live.empty());
  EXPECT_TRUE(network_.tunnels.empty());
  EXPECT_EQ(network_.teardowns, 1);
  EXPECT_TRUE(kube_.peerPods.empty());
  EXPECT_EQ(proxies_.shutdowns, 1);

  // The tunnel fails: the same.
  proxies_.startResult = {};
  network_.setupError = "no vxlan module";
  st = start(*m);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("pod network setup"), std::string::npos);
  EXPECT_EQ(provider_.deleted.size(), 2u);
  EXPECT_TRUE(provider_.live.empty());
  EXPECT_EQ(store_.state(kId)->phase, Phase::kFailed);
}

TEST_F(SandboxManagerTest, FailedDeleteKeepsTheSandboxStoppingForTheNextAdaptor) {
  {
    auto m = makeManager();
    ASSERT_TRUE(m->createVM(createInput()));
    ASSERT_TRUE(start(*m));
    provider_.deleteError = "cloud unreachable";
    EXPECT_TRUE(m->stopVM(kId));  // as upstream: the shim cannot do better with an error
    auto s = store_.state(kId);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->phase, Phase::kStopping);
    EXPECT_EQ(s->lastError, "cloud unreachable");
    EXPECT_EQ(provider_.live.size(), 1u);
    EXPECT_EQ(kube_.peerPods.size(), 1u);  // peerpod-ctrl may still delete the instance
    EXPECT_EQ(kube_.events.back(), "PodVMDeleteFailed");
  }
  // The restarted adaptor finishes the StopVM.
  provider_.deleteError.clear();
  auto m = makeManager();
  EXPECT_EQ(m->restore(), 0);
  EXPECT_TRUE(provider_.live.empty());
  EXPECT_TRUE(store_.files.empty());
  EXPECT_TRUE(kube_.peerPods.empty());
  EXPECT_EQ(m->sandboxCount(), 0u);
}

TEST_F(SandboxManagerTest, StopOrStartOfAnUnknownSandboxIsNotFound) {
  auto m = makeManager();
  auto st = m->stopVM("nosuchsandbox");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Code::kNotFound);
  st = start(*m, "nosuchsandbox");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Code::kNotFound);
  EXPECT_TRUE(store_.history.empty());
}

TEST_F(SandboxManagerTest, RestoreCreatedSandboxKeepsItsVniAndStartsLater) {
  leftBehind(/*started=*/false);
  network_.vnis.clear();  // a new process: the allocator starts empty
  network_.next = 7000;
  auto m = makeManager();
  EXPECT_EQ(m->restore(), 0);
  EXPECT_EQ(m->sandboxCount(), 1u);
  EXPECT_EQ(network_.vnis, std::set<uint32_t>{7000});
  EXPECT_EQ(proxies_.made.size(), 0u);
  ASSERT_TRUE(start(*m));
  EXPECT_EQ(store_.state(kId)->phase, Phase::kRunning);
  EXPECT_EQ(network_.tunnels["/run/netns/p"].first, 7000u);
}

TEST_F(SandboxManagerTest, RestoreRunningSandboxReattachesItsProxy) {
  kube_.peerPodsRefused = true;  // the PeerPod could not be created at StartVM
  EXPECT_TRUE(leftBehind(/*started=*/true).peerPodName.empty());
  EXPECT_EQ(provider_.live.size(), 1u);
  network_.vnis.clear();
  kube_.peerPodsRefused = false;
  kube_.events.clear();
  auto m = makeManager();
  EXPECT_EQ(m->restore(), 1);
  EXPECT_EQ(proxies_.listening, 1);
  EXPECT_EQ(proxies_.made.back().vmHost, "198.18.0.10");
  EXPECT_EQ(network_.vnis, std::set<uint32_t>{7000});
  // The PeerPod missed at StartVM is created now, and saved.
  EXPECT_EQ(kube_.peerPods.size(), 1u);
  EXPECT_EQ(store_.state(kId)->peerPodName, instanceName("web-0", kId));
  EXPECT_EQ(kube_.events, std::vector<std::string>{"PodVMReattached"});
  EXPECT_TRUE(m->vmId("web-0", "team", false, Clock::now()));

  ASSERT_TRUE(m->stopVM(kId));
  EXPECT_TRUE(provider_.live.empty());
  EXPECT_TRUE(kube_.peerPods.empty());
  EXPECT_TRUE(store_.files.empty());
}

TEST_F(SandboxManagerTest, RestoreStoppingSandboxFinishesTheStop) {
  // The adaptor died during StopVM, right after saving the phase.
  auto s = leftBehind(/*started=*/true, Phase::kStopping);
  auto m = makeManager();
  EXPECT_EQ(m->restore(), 0);
  EXPECT_EQ(provider_.deleted, std::vector<std::string>{s.instanceId});
  EXPECT_TRUE(provider_.live.empty());
  EXPECT_TRUE(network_.tunnels.empty());
  EXPECT_TRUE(network_.vnis.empty());
  EXPECT_TRUE(kube_.peerPods.empty());
  EXPECT_TRUE(store_.files.empty());
  EXPECT_EQ(m->sandboxCount(), 0u);
}

TEST_F(SandboxManagerTest, RestoreStartingSandboxDeletesItsInstance) {
  // The adaptor died during StartVM after the instance was created.
  auto s = leftBehind(/*started=*/true, Phase::kStarting);
  auto m = makeManager();
  EXPECT_EQ(m->restore(), 0);
  EXPECT_EQ(provider_.deleted, std::vector<std::string>{s.instanceId});
  EXPECT_TRUE(provider_.live.empty());
  EXPECT_TRUE(network_.tunnels.empty());
  EXPECT_TRUE(kube_.peerPods.empty());
  auto failed = store_.state(kId);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->phase, Phase::kFailed);
  EXPECT_EQ(failed->lastError, "adaptor restarted during StartVM");
  EXPECT_TRUE(failed->instanceId.empty());
  EXPECT_EQ(proxies_.listening, 0);
}

// What an adaptor killed inside the provider's create leaves: phase starting, no instance id,
// and (when the kill came after the cloud accepted the create) an instance tagged with the
// sandbox.
SandboxState diedInsideCreate(MemoryProvider& provider, SandboxState s, bool instanceExists) {
  if (instanceExists) {
    providers::CreateRequest r;
    r.sandboxId = s.id;
    r.instanceName = s.instanceName;
    EXPECT_TRUE(provider.createInstance(r));
    provider.requests.clear();
  }
  return s;
}

TEST_F(SandboxManagerTest, RestoreStartingSandboxWithoutInstanceIdDeletesItsLeftover) {
  // "was starting instance X when the adaptor stopped": the provider call never answered,
  // but the cloud made the instance.
  auto s = diedInsideCreate(provider_, leftBehind(/*started=*/false, Phase::kStarting), true);
  ASSERT_EQ(provider_.live.size(), 1u);
  std::vector<std::string> lines;
  log::setSinkForTest([&](std::string_view line) { lines.emplace_back(line); });
  auto m = makeManager();
  EXPECT_EQ(m->restore(), 0);
  log::setSinkForTest({});
  auto said = [&](const std::string& text) {
    return std::ranges::any_of(
        lines, [&](const std::string& line) { return line.find(text) != std::string::npos; });
  };
  EXPECT_TRUE(said("was starting instance " + s.instanceName + " when the adaptor stopped"));
  EXPECT_TRUE(said("deleted instance i-" + s.instanceName));
  EXPECT_TRUE(provider_.live.empty());
  EXPECT_EQ(provider_.deleted, std::vector<std::string>{"i-" + s.instanceName});
  auto failed = store_.state(kId);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->phase, Phase::kFailed);
  EXPECT_EQ(failed->lastError, "adaptor restarted during StartVM");
  EXPECT_TRUE(failed->instanceUnknown);  // a cloud's list may lag: StartVM/StopVM look again
  EXPECT_EQ(kube_.events.back(), "PodVMLeftoverDeleted");
  EXPECT_EQ(m->sandboxCount(), 1u);
  // A new StartVM looks once more, then makes exactly one instance.
  int lists = provider_.lists;
  ASSERT_TRUE(start(*m));
  EXPECT_EQ(provider_.lists, lists + 1);
  EXPECT_FALSE(store_.state(kId)->instanceUnknown);
  EXPECT_EQ(provider_.live.size(), 1u);
  ASSERT_TRUE(m->stopVM(kId));
  EXPECT_TRUE(provider_.live.empty());
  EXPECT_TRUE(store_.files.empty());
}

TEST_F(SandboxManagerTest, LeftoverThatTheCloudListsLateIsFoundAtStopVm) {
  diedInsideCreate(provider_, leftBehind(/*started=*/false, Phase::kStarting), false);
  auto m = makeManager();
  EXPECT_EQ(m->restore(), 0);
  EXPECT_EQ(provider_.lists, 1);
  EXPECT_TRUE(provider_.deleted.empty());
  auto failed = store_.state(kId);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->phase, Phase::kFailed);
  EXPECT_TRUE(failed->instanceUnknown);
  // The instance shows up in the cloud's list only now: StopVM still finds and deletes it.
  diedInsideCreate(provider_, *failed, true);
  ASSERT_EQ(provider_.live.size(), 1u);
  ASSERT_TRUE(m->stopVM(kId));
  EXPECT_EQ(provider_.lists, 2);
  EXPECT_TRUE(provider_.live.empty());
  EXPECT_TRUE(store_.files.empty());
}

TEST_F(SandboxManagerTest, UnlistableLeftoverIsLookedForAgainAtStopVm) {
  // The cloud cannot be asked at restore (API down): StopVM asks again and deletes it.
  diedInsideCreate(provider_, leftBehind(/*started=*/false, Phase::kStarting), true);
  provider_.listError = "API unavailable";
  auto m = makeManager();
  EXPECT_EQ(m->restore(), 0);
  EXPECT_EQ(provider_.live.size(), 1u);
  auto failed = store_.state(kId);
  ASSERT_TRUE(failed);
  EXPECT_TRUE(failed->instanceUnknown);

  // Still down at StopVM: the sandbox stays (stopping) for a later adaptor to finish.
  ASSERT_TRUE(m->stopVM(kId));
  auto stopping = store_.state(kId);
  ASSERT_TRUE(stopping);
  EXPECT_EQ(stopping->phase, Phase::kStopping);
  EXPECT_TRUE(stopping->instanceUnknown);
  EXPECT_NE(stopping->lastError.find("API unavailable"), std::string::npos) << stopping->lastError;

  provider_.listError.clear();
  auto next = makeManager();
  next->restore();  // finishes the StopVM
  EXPECT_TRUE(provider_.live.empty());
  EXPECT_TRUE(store_.files.empty());
}

TEST_F(SandboxManagerTest, StartVmAfterAnInterruptedStartNeverMakesASecondInstance) {
  diedInsideCreate(provider_, leftBehind(/*started=*/false, Phase::kStarting), true);
  provider_.listError = "API unavailable";
  auto m = makeManager();
  m->restore();
  // While the leftover cannot be looked for, StartVM refuses rather than create a duplicate.
  auto refused = start(*m);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("interrupted StartVM"), std::string::npos)
      << refused.error().message;
  EXPECT_TRUE(provider_.requests.empty());
  provider_.listError.clear();
  ASSERT_TRUE(start(*m));
  EXPECT_EQ(provider_.live.size(), 1u);
  EXPECT_EQ(provider_.requests.size(), 1u);
  ASSERT_TRUE(m->stopVM(kId));
  EXPECT_TRUE(provider_.live.empty());
}

TEST_F(SandboxManagerTest, ProviderWithoutListNamesTheInstanceToLookFor) {
  auto s = diedInsideCreate(provider_, leftBehind(/*started=*/false, Phase::kStarting), false);
  provider_.listUnimplemented = true;
  std::vector<std::string> lines;
  log::setSinkForTest([&](std::string_view line) { lines.emplace_back(line); });
  auto m = makeManager();
  m->restore();
  log::setSinkForTest({});
  EXPECT_TRUE(std::ranges::any_of(lines, [&](const std::string& line) {
    return line.find("check the cloud for a leftover instance named " + s.instanceName) !=
           std::string::npos;
  }));
  auto failed = store_.state(kId);
  ASSERT_TRUE(failed);
  EXPECT_FALSE(failed->instanceUnknown);
  ASSERT_TRUE(m->stopVM(kId));
  EXPECT_TRUE(store_.files.empty());
}

TEST_F(SandboxManagerTest, CreateThatMayHaveBeenAppliedIsLookedForByTag) {
  // The cloud made the instance but the answer was lost (UNAVAILABLE), and the provider did
  // not clean up (a plugin, say): the manager finds it by the sandbox's tag and deletes it.
  auto m = makeManager();
  ASSERT_TRUE(m->createVM(createInput()));
  diedInsideCreate(provider_, *store_.state(kId), true);
  provider_.createError = "connection reset";
  auto failed = start(*m);
  ASSERT_FALSE(failed);
  EXPECT_TRUE(provider_.live.empty());
  EXPECT_EQ(provider_.lists, 1);
  provider_.lists = 0;
  ASSERT_TRUE(m->stopVM(kId));
  EXPECT_EQ(provider_.lists, 1);  // StopVM looks once more (the cloud's list may lag)
  EXPECT_TRUE(store_.files.empty());

  // A definite refusal (bad argument, quota) made nothing: no look.
  provider_.lists = 0;
  provider_.createCode = Code::kInvalidArgument;
  provider_.createError = "no such instance type";
  ASSERT_TRUE(m->createVM(createInput()));
  ASSERT_FALSE(start(*m));
  ASSERT_TRUE(m->stopVM(kId));
  EXPECT_EQ(provider_.lists, 0);
}

TEST_F(SandboxManagerTest, FailedDeletesAreRetriedWithoutARestart) {
  auto m = makeManager();
  ASSERT_TRUE(m->createVM(createInput()));
  ASSERT_TRUE(start(*m));
  provider_.deleteError = "API unavailable";
  ASSERT_TRUE(m->stopVM(kId));
  EXPECT_EQ(store_.state(kId)->phase, Phase::kStopping);
  EXPECT_EQ(provider_.live.size(), 1u);
  EXPECT_EQ(m->retryStopping(), 1);  // still failing: stays stopping
  EXPECT_EQ(provider_.live.size(), 1u);
  provider_.deleteError.clear();
  EXPECT_EQ(m->retryStopping(), 1);
  EXPECT_TRUE(provider_.live.empty());
  EXPECT_TRUE(store_.files.empty());
  EXPECT_EQ(m->retryStopping(), 0);
}

TEST_F(SandboxManagerTest, ForgetSandboxRunsOnceTheInstanceIsFinallyDeleted) {
  // A stop that the restarted adaptor finishes on its own (restore).
  leftBehind(/*started=*/true, Phase::kStopping);
  EXPECT_TRUE(forgotten_.empty());
  {
    auto m = makeManager();
    m->restore();
    EXPECT_TRUE(provider_.live.empty());
    EXPECT_EQ(forgotten_, std::vector<std::string>{kId});
  }

  // A failed instance delete keeps the sandbox (and its keys); the retry that succeeds ends it.
  forgotten_.clear();
  const std::string other = "fedcba9876543210";
  auto m = makeManager();
  ASSERT_TRUE(m->createVM(createInput(other)));
  ASSERT_TRUE(start(*m, other));
  provider_.deleteError = "cloud unreachable";
  ASSERT_TRUE(m->stopVM(other));
  EXPECT_EQ(store_.state(other)->phase, Phase::kStopping);
  EXPECT_EQ(m->retryStopping(), 1);
  EXPECT_TRUE(forgotten_.empty());
  provider_.deleteError.clear();
  EXPECT_EQ(m->retryStopping(), 1);
  EXPECT_EQ(forgotten_, std::vector<std::string>{other});

  // The shim's StopVM, once; its repeat finds the sandbox gone and forgets nothing more.
  forgotten_.clear();
  ASSERT_TRUE(m->createVM(createInput()));
  ASSERT_TRUE(start(*m));
  ASSERT_TRUE(m->stopVM(kId));
  ASSERT_TRUE(m->stopVM(kId));
  EXPECT_EQ(forgotten_, std::vector<std::string>{kId});

  // A sandbox that was only created is forgotten at its StopVM too (no instance to delete).
  forgotten_.clear();
  ASSERT_TRUE(m->createVM(createInput()));
  EXPECT_TRUE(forgotten_.empty());
  ASSERT_TRUE(m->stopVM(kId));
  EXPECT_EQ(forgotten_, std::vector<std::string>{kId});
}

TEST_F(SandboxManagerTest, CreateVmFailingAfterPrepareApfForgetsTheSandbox) {
  prepareApf_ = [](const std::string&, apf::ApfConfig&) -> Status {
    return fail(Code::kUnavailable, "key broker unreachable");
  };
  auto m = makeManager();
  auto r = m->createVM(createInput());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("key broker unreachable"), std::string::npos);
  EXPECT_EQ(forgotten_, std::vector<std::string>{kId});
  EXPECT_EQ(m->sandboxCount(), 0u);

  // A CreateVM refused before prepareApf runs (bad input) has made nothing to forget.
  forgotten_.clear();
  auto bad = createInput();
  bad.annotations.erase(kSandboxNamespaceAnnotation);
  ASSERT_FALSE(m->createVM(bad));
  EXPECT_TRUE(forgotten_.empty());
}

TEST_F(SandboxManagerTest, RepeatedStopVmIsOkEvenAfterARestartFinishedIt) {
  auto m = makeManager();
  ASSERT_TRUE(m->createVM(createInput()));
  ASSERT_TRUE(start(*m));
  ASSERT_TRUE(m->stopVM(kId));
  EXPECT_TRUE(m->stopVM(kId));  // the shim's retry after a lost answer
  EXPECT_EQ(provider_.deleted.size(), 1u);

  // Killed during StopVM: the restarted adaptor finishes it in restore(); the shim's StopVM,
  // sent again to the new adaptor, is answered OK.
  leftBehind(/*started=*/true, Phase::kStopping);
  auto next = makeManager();
  next->restore();
  EXPECT_TRUE(provider_.live.empty());
  EXPECT_TRUE(next->stopVM(kId));
  // An id this adaptor never had is still NOT_FOUND.
  auto unknown = next->stopVM("ffffffffffffffff");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Code::kNotFound);
}

TEST_F(SandboxManagerTest, UnreadableStateIsSkipped) {
  store_.files["broken"] = R"({"id": "broken"})";
  auto m = makeManager();
  EXPECT_EQ(m->restore(), 0);
  EXPECT_EQ(m->sandboxCount(), 0u);
}

}  // namespace
}  // namespace pp::adaptor
