// The adaptor's Kubernetes side against the fake API server: PeerPod per VM (also released
// after a restart), Events for each phase and failure, the node's kata.peerpods.io/vm capacity
// with the owner check, and image-pull secrets merged into the pod VM's auth.json.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "adaptor/cert_issuer.h"
#include "adaptor/daemon.h"
#include "adaptor/kube_ops.h"
#include "adaptor/pod_network.h"
#include "adaptor/pods_readiness.h"
#include "adaptor/probe.h"
#include "adaptor/sandbox_manager.h"
#include "base/encoding.h"
#include "cloudinit/cloud_config.h"
#include "fake_kube_api.h"
#include "fake_provider.h"
#include "kube_objects.h"
#include "net/http_client.h"
#include "ttrpc/io_thread.h"
#include "ttrpc/listener.h"

namespace pp {
namespace {

using namespace std::chrono_literals;
using adaptor::KubeOps;
using fakes::FakeKubeApi;
using k8s::Json;

std::string sandboxId(int n) {
  char buf[65];
  std::snprintf(buf, sizeof buf, "%08x%056x", 0xcde00000u + n, n);
  return buf;
}

adaptor::CreateVmInput createInput(const std::string& id, const std::string& pod) {
  return {id,
          {{"io.kubernetes.cri.sandbox-name", pod},
           {"io.kubernetes.cri.sandbox-namespace", "team"},
           {"io.katacontainers.config.hypervisor.default_vcpus", "2"},
           {"io.katacontainers.config.hypervisor.default_memory", "2048"}},
          ""};
}

Json dockerSecret(const std::string& name, const Json& config, bool legacy = false) {
  return Json{
      {"metadata", {{"name", name}, {"namespace", "team"}}},
      {"type", legacy ? "kubernetes.io/dockercfg" : "kubernetes.io/dockerconfigjson"},
      {"data",
       {{legacy ? ".dockercfg" : ".dockerconfigjson", encoding::base64Encode(config.dump())}}}};
}

class AdaptorKubeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path("/tmp") / ("pk" + std::to_string(std::random_device{}() % 100000));
    std::filesystem::create_directories(dir_);
    port_ = static_cast<uint16_t>(20000 + std::random_device{}() % 20000);
    provider_ = std::make_unique<fakes::FakeProvider>(port_);
    api_ = FakeKubeApi::start({.token = "caa-token"});
    client_ = std::make_shared<const k8s::Client>(api_->clientConfig());
    auto issuer = adaptor::OpensslCertIssuer::loadOrCreate((dir_ / "tls").string());
    ASSERT_TRUE(issuer);
    issuer_ = std::move(*issuer);
    pod_ = api_->seed("pods", Json{{"metadata", {{"name", "web"}, {"namespace", "team"}}},
                                   {"spec", {{"nodeName", "node-1"}}}});
  }
  void TearDown() override {
    manager_.reset();
    kube_.reset();
    provider_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A fresh adaptor (manager + Kubernetes hooks) over the same pods dir: a restart.
  adaptor::SandboxManager& startAdaptor() {
    manager_.reset();
    kube_.reset();
    kube_ = std::make_unique<KubeOps>(
        client_,
        adaptor::KubeOpsOptions{.cloudProvider = "aws", .nodeName = "node-1", .ownerId = "caa-a"});
    adaptor::ManagerOptions opts;
    opts.podsDir = (dir_ / "pods").string();
    opts.forwarderPort = port_;
    opts.proxyTimeout = 10s;
    store_ = std::make_unique<adaptor::FileStateStore>(opts.podsDir);
    manager_ = std::make_unique<adaptor::SandboxManager>(opts, *provider_, *store_, network_,
                                                         issuer_.get(), io_.executor());
    manager_->setKubeHooks(kube_.get());
    manager_->restore();
    return *manager_;
  }

  std::vector<Json> peerPods() const { return api_->objects("peerpods", "team"); }
  std::vector<std::string> eventLines() {
    kube_->flushEvents();
    std::vector<std::string> out;
    for (auto& e : api_->objects("events", "team")) {
      out.push_back(e["type"].get<std::string>() + " " + e["reason"].get<std::string>() + ": " +
                    e["message"].get<std::string>());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  adaptor::SandboxState savedState(const std::string& id) {
    std::vector<std::string> problems;
    for (auto& s : store_->loadAll(&problems)) {
      if (s.id == id) return s;
    }
    return {};
  }

  std::filesystem::path dir_;
  uint16_t port_ = 0;
  ttrpc::IoThread io_;
  adaptor::NoPodNetwork network_;
  std::unique_ptr<adaptor::OpensslCertIssuer> issuer_;
  std::unique_ptr<fakes::FakeProvider> provider_;
  std::unique_ptr<FakeKubeApi> api_;
  std::shared_ptr<const k8s::Client> client_;
  Json pod_;
  std::unique_ptr<KubeOps> kube_;
  std::unique_ptr<adaptor::FileStateStore> store_;
  std::unique_ptr<adaptor::SandboxManager> manager_;
};

TEST_F(AdaptorKubeTest, PeerPodGuardsTheInstanceUntilItIsDeleted) {
  auto& m = startAdaptor();
  auto id = sandboxId(1);
  ASSERT_TRUE(m.createVM(createInput(id, "web")));
  ASSERT_TRUE(m.startVM(id, std::chrono::steady_clock::now() + 30s));

  auto pps = peerPods();
  ASSERT_EQ(pps.size(), 1u);
  const Json& pp = pps[0];
  std::string name = pp["metadata"]["name"];
  EXPECT_TRUE(name.starts_with("web-resource-")) << name;
  EXPECT_EQ(name.size(), std::string("web-resource-").size() + 5);
  EXPECT_EQ(pp["metadata"]["finalizers"], Json::array({"peer.pod/finalizer"}));
  const Json& owner = pp["metadata"]["ownerReferences"][0];
  EXPECT_EQ(owner["kind"], "Pod");
  EXPECT_EQ(owner["apiVersion"], "v1");
  EXPECT_EQ(owner["name"], "web");
  EXPECT_EQ(owner["uid"], pod_["metadata"]["uid"]);
  EXPECT_EQ(owner["controller"], true);
  EXPECT_EQ(owner["blockOwnerDeletion"], true);
  EXPECT_EQ(pp["spec"]["cloudProvider"], "aws");
  std::string instanceId = pp["spec"]["instanceID"];
  EXPECT_TRUE(provider_->exists(instanceId));
  EXPECT_EQ(savedState(id).peerPodName, name);

  // The pod is deleted; garbage collection deletes the PeerPod, which waits on its finalizer.
  ASSERT_TRUE(client_->remove(k8s::resources::kPeerPods, "team", name));
  ASSERT_TRUE(api_->object("peerpods", "team", name));

  ASSERT_TRUE(m.stopVM(id));
  EXPECT_FALSE(provider_->exists(instanceId));
  EXPECT_FALSE(api_->object("peerpods", "team", name)) << "finalizer not removed";
  // The finalizer removal is upstream's JSON patch.
  bool sawPatch = false;
  for (auto& r : api_->requests()) {
    if (r.method == "PATCH" && r.path.ends_with("/peerpods/" + name)) {
      EXPECT_EQ(r.contentType, "application/json-patch+json");
      EXPECT_EQ(Json::parse(r.body),
                Json::parse(R"([{"op":"remove","path":"/metadata/finalizers"}])"));
      sawPatch = true;
    }
  }
  EXPECT_TRUE(sawPatch);
}

TEST_F(AdaptorKubeTest, RestartedAdaptorStillReleasesThePeerPod) {
  auto id = sandboxId(2);
  {
    auto& m = startAdaptor();
    ASSERT_TRUE(m.createVM(createInput(id, "web")));
    ASSERT_TRUE(m.startVM(id, std::chrono::steady_clock::now() + 30s));
  }
  ASSERT_EQ(peerPods().size(), 1u);
  std::string name = peerPods()[0]["metadata"]["name"];

  auto& restarted = startAdaptor();  // the old manager and hooks are gone: only state.json is left
  ASSERT_EQ(restarted.sandboxCount(), 1u);
  bool reattachedEvent = false;
  for (auto& line : eventLines()) reattachedEvent |= line.starts_with("Normal PodVMReattached: ");
  EXPECT_TRUE(reattachedEvent);
  ASSERT_TRUE(restarted.stopVM(id));
  EXPECT_EQ(provider_->liveInstances(), 0u);
  auto pp = api_->object("peerpods", "team", name);
  ASSERT_TRUE(pp);
  EXPECT_FALSE(pp->at("metadata").contains("finalizers"));
}

TEST_F(AdaptorKubeTest, PeerPodMissedAtStartIsCreatedAfterARestart) {
  auto id = sandboxId(8);
  {
    auto& m = startAdaptor();
    ASSERT_TRUE(m.createVM(createInput(id, "web")));
    api_->failNext("POST", "/peerpods", 503, "ServiceUnavailable");
    ASSERT_TRUE(m.startVM(id, std::chrono::steady_clock::now() + 30s));  // the pod still starts
  }
  EXPECT_TRUE(peerPods().empty());
  EXPECT_TRUE(savedState(id).peerPodName.empty());
  startAdaptor();
  ASSERT_EQ(peerPods().size(), 1u);
  EXPECT_EQ(savedState(id).peerPodName, peerPods()[0]["metadata"]["name"]);
}

TEST_F(AdaptorKubeTest, EventsTellThePodsStoryAndFailuresTheirReason) {
  auto& m = startAdaptor();
  auto id = sandboxId(3);
  ASSERT_TRUE(m.createVM(createInput(id, "web")));
  ASSERT_TRUE(m.startVM(id, std::chrono::steady_clock::now() + 30s));
  auto lines = eventLines();
  ASSERT_EQ(lines.size(), 3u);
  std::string instanceId = peerPods()[0]["spec"]["instanceID"];
  EXPECT_TRUE(lines[0].starts_with(
      "Normal CreatingPodVM: Creating pod VM podvm-web-cde00003 (2 vCPUs, 2048 MiB)"))
      << lines[0];
  EXPECT_TRUE(lines[1].starts_with(
      "Normal PodVMAgentConnected: Connected to the kata-agent in pod VM podvm-web-cde00003"))
      << lines[1];
  EXPECT_NE(lines[2].find("Normal PodVMCreated: Created pod VM podvm-web-cde00003 as instance " +
                          instanceId + " (2 vCPUs, 2048 MiB) with IP "),
            std::string::npos)
      << lines[2];
  for (auto& e : api_->objects("events", "team")) {
    EXPECT_EQ(e["involvedObject"]["kind"], "Pod");
    EXPECT_EQ(e["involvedObject"]["name"], "web");
    EXPECT_EQ(e["involvedObject"]["uid"], pod_["metadata"]["uid"]);
    EXPECT_EQ(e["source"]["component"], "cloud-api-adaptor");
    EXPECT_EQ(e["source"]["host"], "node-1");
  }
  ASSERT_TRUE(m.stopVM(id));

  // The cloud refuses: the reason reaches the pod's events, not just "deadline exceeded".
  api_->seed("pods", Json{{"metadata", {{"name", "quota"}, {"namespace", "team"}}}});
  provider_->failCreate = true;
  auto failing = sandboxId(4);
  ASSERT_TRUE(m.createVM(createInput(failing, "quota")));
  auto r = m.startVM(failing, std::chrono::steady_clock::now() + 30s);
  ASSERT_FALSE(r);
  provider_->failCreate = false;
  bool found = false;
  for (auto& line : eventLines()) {
    if (line.starts_with("Warning PodVMFailed: creating pod VM podvm-quota-cde00004: ")) {
      EXPECT_NE(line.find(r.error().message), std::string::npos);
      found = true;
    }
  }
  EXPECT_TRUE(found);
  for (auto& pp : peerPods()) EXPECT_NE(pp["metadata"]["ownerReferences"][0]["name"], "quota");

  // The VM boots but its agent never answers.
  api_->seed("pods", Json{{"metadata", {{"name", "silent"}, {"namespace", "team"}}}});
  provider_->startVmServer = false;
  auto silent = sandboxId(5);
  ASSERT_TRUE(m.createVM(createInput(silent, "silent")));
  r = m.startVM(silent, std::chrono::steady_clock::now() + 1s);
  ASSERT_FALSE(r);
  found = false;
  for (auto& line : eventLines()) {
    if (line.starts_with("Warning PodVMFailed: connecting to the pod VM's agent")) found = true;
  }
  EXPECT_TRUE(found);
  // Its instance was deleted again and its PeerPod released.
  EXPECT_EQ(provider_->liveInstances(), 0u);
  for (auto& pp : peerPods()) EXPECT_FALSE(pp["metadata"].contains("finalizers"));
}

TEST_F(AdaptorKubeTest, RefusedEventsDoNotHoldUpThePod) {
  api_->failNext("POST", "/events", 403, "Forbidden", 100);  // RBAC without events
  auto& m = startAdaptor();
  auto id = sandboxId(9);
  ASSERT_TRUE(m.createVM(createInput(id, "web")));
  ASSERT_TRUE(m.startVM(id, std::chrono::steady_clock::now() + 30s));
  EXPECT_TRUE(kube_->flushEvents(5s));
  EXPECT_TRUE(api_->objects("events", "team").empty());
  EXPECT_EQ(peerPods().size(), 1u);
  ASSERT_TRUE(m.stopVM(id));
}

TEST_F(AdaptorKubeTest, ImagePullSecretsOfPodAndServiceAccountGoToAuthJson) {
  api_->seed("pods",
             Json{{"metadata", {{"name", "private"}, {"namespace", "team"}}},
                  {"spec",
                   {{"serviceAccountName", "builder"},
                    {"imagePullSecrets", {{{"name", "pod-cred"}}, {{"name", "missing"}}}}}}});
  api_->seed("serviceaccounts", Json{{"metadata", {{"name", "builder"}, {"namespace", "team"}}},
                                     {"imagePullSecrets", {{{"name", "sa-cred"}}}}});
  api_->seed("secrets",
             dockerSecret("pod-cred",
                          {{"auths",
                            {{"registry.example", {{"username", "alice"}, {"password", "s3cret"}}},
                             {"shared.example", {{"auth", "cG9kOnBvZA=="}}}}}}));
  api_->seed("secrets", dockerSecret("sa-cred",
                                     {{"quay.io", {{"auth", "c2E6c2E="}}},
                                      {"shared.example", {{"auth", "c2E6c2E="}}}},
                                     true));
  auto& m = startAdaptor();
  auto id = sandboxId(6);
  ASSERT_TRUE(m.createVM(createInput(id, "private")));
  auto files = cloudinit::parseCloudConfig(savedState(id).userData);
  ASSERT_TRUE(files);
  std::string auth;
  for (auto& f : *files) {
    if (f.path == "/run/peerpod/auth.json") auth = f.content;
  }
  ASSERT_FALSE(auth.empty());
  Json j = Json::parse(auth);
  EXPECT_EQ(j["auths"]["registry.example"],
            Json({{"auth", encoding::base64Encode("alice:s3cret")}}));
  EXPECT_EQ(j["auths"]["quay.io"], Json({{"auth", "c2E6c2E="}}));
  EXPECT_EQ(j["auths"]["shared.example"], Json({{"auth", "cG9kOnBvZA=="}}));  // the pod's wins
  EXPECT_EQ(auth.find("s3cret"), std::string::npos);  // only inside the base64 auth
  EXPECT_EQ(auth.find("alice"), std::string::npos);

  // A pod without secrets gets no auth.json.
  auto plain = sandboxId(7);
  ASSERT_TRUE(m.createVM(createInput(plain, "web")));
  EXPECT_EQ(savedState(plain).userData.find("auth.json"), std::string::npos);
}

TEST_F(AdaptorKubeTest, NodeCapacityIsWithdrawnOnlyByItsOwner) {
  api_->seed("nodes",
             Json{{"metadata", {{"name", "node-1"}}}, {"status", {{"capacity", {{"cpu", "8"}}}}}});
  auto capacity = [&]() -> std::string {
    auto node = api_->object("nodes", "", "node-1");
    auto& cap = node->at("status")["capacity"];
    return cap.contains("kata.peerpods.io/vm") ? cap["kata.peerpods.io/vm"].get<std::string>() : "";
  };
  auto annotations = [&]() {
    return api_->object("nodes", "", "node-1")->at("metadata").value("annotations", Json::object());
  };
  KubeOps old(client_, {.nodeName = "node-1", .ownerId = "caa-old"});
  ASSERT_TRUE(old.advertiseCapacity(10));
  EXPECT_EQ(capacity(), "10");
  // Upstream's key and value: the adaptor pod's UID under kata.peerpods.io/caa-owner.
  EXPECT_EQ(annotations().value("kata.peerpods.io/caa-owner", ""), "caa-old");
  bool sawUpstreamPatch = false;
  for (auto& r : api_->requests()) {
    if (r.method == "PATCH" && r.path == "/api/v1/nodes/node-1/status") {
      EXPECT_EQ(
          Json::parse(r.body),
          Json::parse(
              R"([{"op":"add","path":"/status/capacity/kata.peerpods.io~1vm","value":"10"}])"));
      sawUpstreamPatch = true;
    }
  }
  EXPECT_TRUE(sawUpstreamPatch);

  // Rolling update: the new adaptor starts before the old one stops.
  KubeOps next(client_, {.nodeName = "node-1", .ownerId = "caa-new"});
  ASSERT_TRUE(next.advertiseCapacity(20));
  old.withdrawCapacity();
  EXPECT_EQ(capacity(), "20");  // upstream's race removed it here
  EXPECT_EQ(annotations().value("kata.peerpods.io/caa-owner", ""), "caa-new");
  next.withdrawCapacity();
  EXPECT_EQ(capacity(), "");
  EXPECT_FALSE(annotations().contains("kata.peerpods.io/caa-owner"));

  // A negative limit advertises nothing; no NODE_NAME touches no node.
  api_->clearRequests();
  KubeOps none(client_, {.nodeName = "node-1", .ownerId = "x"});
  ASSERT_TRUE(none.advertiseCapacity(-1));
  KubeOps noNode(client_, {.ownerId = "y"});
  ASSERT_TRUE(noNode.advertiseCapacity(10));
  noNode.withdrawCapacity();
  EXPECT_TRUE(api_->requests().empty());
  EXPECT_EQ(capacity(), "");

  // An unknown node stops the start with the API's reason.
  KubeOps wrong(client_, {.nodeName = "node-9", .ownerId = "z"});
  auto st = wrong.advertiseCapacity(10);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("NotFound"), std::string::npos);
}

// Rolling update from (and back to) a peerpods release that marked the node with
// peerpods.io/caa-owner = the pod's name: neither version removes what the other advertised.
TEST_F(AdaptorKubeTest, NodeOwnerFromTheOldAnnotationIsRecognised) {
  api_->seed("nodes",
             Json{{"metadata",
                   {{"name", "node-1"}, {"annotations", {{"peerpods.io/caa-owner", "caa-x1"}}}}},
                  {"status", {{"capacity", {{"cpu", "8"}, {"kata.peerpods.io/vm", "10"}}}}}});
  auto node = [&]() { return *api_->object("nodes", "", "node-1"); };
  auto capacity = [&]() -> std::string {
    auto cap = node()["status"]["capacity"];
    return cap.contains("kata.peerpods.io/vm") ? cap["kata.peerpods.io/vm"].get<std::string>() : "";
  };
  // What the old release sends when it stops: remove the capacity if it still owns the node.
  auto oldReleaseWithdraws = [&]() {
    Json patch = Json::parse(R"([
      {"op":"test","path":"/metadata/annotations/peerpods.io~1caa-owner","value":"caa-x1"},
      {"op":"remove","path":"/status/capacity/kata.peerpods.io~1vm"}])");
    return client_->patch(k8s::resources::kNodes, "", "node-1", k8s::PatchType::kJsonPatch, patch,
                          "status");
  };

  KubeOps next(client_, {.nodeName = "node-1", .ownerId = "3f1c2a9e-uid"});
  ASSERT_TRUE(next.advertiseCapacity(20));
  auto ann = node()["metadata"]["annotations"];
  EXPECT_EQ(ann.value("kata.peerpods.io/caa-owner", ""), "3f1c2a9e-uid");
  EXPECT_FALSE(ann.contains("peerpods.io/caa-owner"));
  EXPECT_FALSE(oldReleaseWithdraws());  // the old adaptor sees it is no longer the owner
  EXPECT_EQ(capacity(), "20");

  // Rolled back: the old release marks the node again after the new one advertised; the new
  // one, stopping last, leaves the old release's capacity alone.
  ASSERT_TRUE(
      client_->patch(k8s::resources::kNodes, "", "node-1", k8s::PatchType::kMergePatch,
                     Json{{"metadata", {{"annotations", {{"peerpods.io/caa-owner", "caa-x1"}}}}}}));
  next.withdrawCapacity();
  EXPECT_EQ(capacity(), "20");
  EXPECT_EQ(node()["metadata"]["annotations"].value("peerpods.io/caa-owner", ""), "caa-x1");
}

// The daemon wires it together: NODE_NAME and API access give the node its capacity at start
// (before the socket opens) and take it away at stop; without them nothing touches the API.
TEST_F(AdaptorKubeTest, DaemonAdvertisesCapacityOnlyInKubernetes) {
  api_->seed("nodes",
             Json{{"metadata", {{"name", "node-1"}}}, {"status", {{"capacity", {{"cpu", "8"}}}}}});
  auto makeDaemon = [&](const std::string& sub) {
    adaptor::AdaptorConfig config;
    flags::FlagSet fs("test", flags::mapEnv({}));
    config.registerFlags(fs);
    config.socket = (dir_ / (sub + ".sock")).string();
    config.podsDir = (dir_ / sub).string();
    config.peerpodsLimitPerNode = 7;
    config.providerName = "fake";
    auto daemon =
        std::make_unique<adaptor::Daemon>(config, std::make_unique<fakes::FakeProvider>(port_));
    daemon->setPodNetwork(std::make_unique<adaptor::NoPodNetwork>());
    return daemon;
  };
  auto capacity = [&]() {
    auto cap = api_->object("nodes", "", "node-1")->at("status")["capacity"];
    return cap.contains("kata.peerpods.io/vm") ? cap["kata.peerpods.io/vm"].get<std::string>() : "";
  };

  ::setenv("NODE_NAME", "node-1", 1);
  ::setenv("POD_UID", "0c6a31f2-7d5e-4a8b-9f00-5b1e2d3c4a5f",
           1);  // the downward API's metadata.uid
  auto daemon = makeDaemon("a");
  daemon->setKubeConfig(api_->clientConfig());
  auto st = daemon->start();
  ::unsetenv("POD_UID");
  ASSERT_TRUE(st) << st.error().toString();
  EXPECT_EQ(capacity(), "7");
  EXPECT_EQ(api_->object("nodes", "", "node-1")
                ->at("metadata")["annotations"]
                .value("kata.peerpods.io/caa-owner", ""),
            "0c6a31f2-7d5e-4a8b-9f00-5b1e2d3c4a5f");
  daemon->stop();
  EXPECT_EQ(capacity(), "");

  // No API access (no in-cluster configuration, no KUBECONFIG) and no NODE_NAME: off.
  ::unsetenv("NODE_NAME");
  ::unsetenv("KUBECONFIG");
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  api_->clearRequests();
  auto outside = makeDaemon("b");
  st = outside->start();
  ASSERT_TRUE(st) << st.error().toString();
  outside->stop();
  EXPECT_TRUE(api_->requests().empty());

  // NODE_NAME for a node the API does not know: the start fails with the API's reason.
  ::setenv("NODE_NAME", "node-9", 1);
  auto wrong = makeDaemon("c");
  wrong->setKubeConfig(api_->clientConfig());
  st = wrong->start();
  ::unsetenv("NODE_NAME");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("NotFound"), std::string::npos) << st.error().toString();
  api_->clearRequests();
  wrong.reset();  // nothing was advertised, so nothing is withdrawn
  EXPECT_TRUE(api_->requests().empty());
}

std::string probeGet(uint16_t port) {
  net::HttpClient client;
  net::HttpRequest r;
  r.url = "http://127.0.0.1:" + std::to_string(port) + "/startup";
  auto resp = client.send(r);
  return resp ? std::to_string(resp->status) + " " + resp->body : resp.error().message;
}

TEST_F(AdaptorKubeTest, StartupProbeWaitsForTheNodesRunningPeerPods) {
  api_->seed("pods", fakes::podOnNode("a", "Running", true));
  api_->seed("pods", fakes::podOnNode("b", "Running", false));
  api_->seed("pods", fakes::podOnNode("elsewhere", "Running", false, "node-2"));
  auto readiness = std::make_shared<adaptor::PodsReadiness>(client_, "node-1", "kata-remote", 50ms);
  std::string sock = (dir_ / "hv.sock").string();
  auto listener = io_.run([&]() -> asio::awaitable<Result<std::unique_ptr<ttrpc::Listener>>> {
    co_return ttrpc::listenUnix(io_.executor(), sock, [](std::unique_ptr<ttrpc::ByteStream>) {});
  });
  ASSERT_TRUE(listener);
  auto probe =
      adaptor::StartupProbe::start(0, sock, [readiness] { return readiness->notReadyReason(); });
  ASSERT_TRUE(probe) << probe.error().message;
  uint16_t port = (*probe)->port();
  std::string answer;
  for (int i = 0; i < 40; ++i) {
    answer = probeGet(port);
    if ((*probe)->lastNotReadyReason().find("team/b") != std::string::npos) break;
    std::this_thread::sleep_for(25ms);
  }
  // The answer says nothing about the pods (the port is reachable from the node); the reason
  // is kept for the log.
  EXPECT_EQ(answer, "500 not ready\n");
  EXPECT_EQ((*probe)->lastNotReadyReason(),
            "waiting for 1 running kata-remote pods on node node-1 to be Ready: team/b");

  Json b = *api_->object("pods", "team", "b");
  b["status"]["conditions"][0]["status"] = "True";
  api_->seed("pods", b);
  for (int i = 0; i < 40 && answer != "200 ok\n"; ++i) {
    std::this_thread::sleep_for(25ms);
    answer = probeGet(port);
  }
  EXPECT_EQ(answer, "200 ok\n");
  // Sticky, as upstream: a pod going unready later does not fail the startup probe.
  api_->seed("pods", fakes::podOnNode("c", "Running", false));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(probeGet(port), "200 ok\n");
  (*probe)->stop();
  listener->reset();
}

}  // namespace
}  // namespace pp
