// peerpod-ctrl's controller against the fake API server and an in-memory provider.
#include "peerpod_ctrl/controller.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <thread>

#include "base/encoding.h"
#include "base/testing/prometheus_judge.h"
#include "fake_kube_api.h"

namespace pp::peerpod_ctrl {
namespace {

using namespace std::chrono_literals;
using fakes::FakeKubeApi;
using k8s::Json;

// A cloud in memory: instances by id; deletes can be made to fail.
struct Cloud {
  std::mutex mu;
  std::set<std::string> instances;
  int failDeletes = 0;
  int deletes = 0;
  bool canList = true;
  std::vector<std::map<std::string, std::string>> builtWith;
};

class MemoryProvider final : public providers::Provider {
 public:
  explicit MemoryProvider(Cloud& cloud) : cloud_(cloud) {}
  Result<providers::Instance> createInstance(const providers::CreateRequest&) override {
    return fail(Code::kUnimplemented, "not used");
  }
  Status deleteInstance(const std::string& id) override {
    std::lock_guard lock(cloud_.mu);
    ++cloud_.deletes;
    if (cloud_.failDeletes > 0) {
      --cloud_.failDeletes;
      return fail(Code::kUnavailable, "cloud API throttled");
    }
    cloud_.instances.erase(id);  // already gone is success
    return {};
  }
  Result<std::vector<providers::Instance>> listInstances(const std::string&) override {
    std::lock_guard lock(cloud_.mu);
    if (!cloud_.canList) return Provider::listInstances("");
    std::vector<providers::Instance> out;
    for (auto& id : cloud_.instances) out.push_back({id, "podvm-" + id, {}});
    return out;
  }

 private:
  Cloud& cloud_;
};

Json peerPod(const std::string& name, const std::string& instance, const std::string& ownerUid,
             const std::string& created = "") {
  Json pp{{"metadata",
           {{"name", name},
            {"namespace", "team"},
            {"finalizers", {"peer.pod/finalizer"}},
            {"ownerReferences",
             {{{"apiVersion", "v1"},
               {"kind", "Pod"},
               {"name", "web"},
               {"uid", ownerUid},
               {"controller", true},
               {"blockOwnerDeletion", true}}}}}},
          {"spec", {{"cloudProvider", "memory"}, {"instanceID", instance}}}};
  if (!created.empty()) pp["metadata"]["creationTimestamp"] = created;
  return pp;
}

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_ = FakeKubeApi::start();
    client_ = std::make_shared<const k8s::Client>(api_->clientConfig());
    api_->seed("configmaps",
               Json{{"metadata", {{"name", "peer-pods-cm"}, {"namespace", "pp-system"}}},
                    {"data", {{"CLOUD_PROVIDER", "memory"}, {"MEMORY_REGION", "eu-1"}}}});
    api_->seed("secrets",
               Json{{"metadata", {{"name", "peer-pods-secret"}, {"namespace", "pp-system"}}},
                    {"data", {{"MEMORY_KEY", encoding::base64Encode("k3y")}}}});
  }

  std::unique_ptr<Controller> makeController(ControllerOptions o = {}) {
    o.configNamespace = "pp-system";
    o.retryBase = 20ms;
    o.retryMax = 200ms;
    o.watchTimeoutSeconds = 5;
    return std::make_unique<Controller>(
        client_, o,
        [this](const std::string& name,
               const flags::EnvLookup& env) -> Result<std::unique_ptr<providers::Provider>> {
          if (name != "memory") return fail(Code::kNotFound, "unsupported cloud provider: " + name);
          std::lock_guard lock(cloud_.mu);
          std::map<std::string, std::string> seen;
          for (const char* k : {"CLOUD_PROVIDER", "MEMORY_REGION", "MEMORY_KEY"})
            seen[k] = env(k).value_or("");
          cloud_.builtWith.push_back(seen);
          return std::unique_ptr<providers::Provider>(std::make_unique<MemoryProvider>(cloud_));
        });
  }

  bool waitFor(const std::function<bool()>& pred, std::chrono::milliseconds limit = 5s) {
    for (auto end = std::chrono::steady_clock::now() + limit;
         std::chrono::steady_clock::now() < end;) {
      if (pred()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return pred();
  }

  std::unique_ptr<FakeKubeApi> api_;
  std::shared_ptr<const k8s::Client> client_;
  Cloud cloud_;
};

TEST_F(ControllerTest, DeletedPeerPodGetsItsInstanceDeletedThenLosesItsFinalizer) {
  cloud_.instances = {"i-1"};
  api_->seed("peerpods", peerPod("web-resource-aaaaa", "i-1", "pod-uid-1"));
  ASSERT_TRUE(client_->remove(k8s::resources::kPeerPods, "team", "web-resource-aaaaa"));  // GC
  auto c = makeController();
  auto st = c->reconcile("team", "web-resource-aaaaa");
  ASSERT_TRUE(st) << st.error().toString();
  EXPECT_TRUE(cloud_.instances.empty());
  EXPECT_FALSE(api_->object("peerpods", "team", "web-resource-aaaaa"));
  // The provider was built from the ConfigMap and the decoded Secret.
  ASSERT_EQ(cloud_.builtWith.size(), 1u);
  EXPECT_EQ(cloud_.builtWith[0]["CLOUD_PROVIDER"], "memory");
  EXPECT_EQ(cloud_.builtWith[0]["MEMORY_REGION"], "eu-1");
  EXPECT_EQ(cloud_.builtWith[0]["MEMORY_KEY"], "k3y");
  // NotFound is done, and the provider is cached.
  EXPECT_TRUE(c->reconcile("team", "web-resource-aaaaa"));
  EXPECT_EQ(c->metricsText().find("peerpod_ctrl_instance_deletes_total{result=\"success\"} 1") !=
                std::string::npos,
            true);
}

TEST_F(ControllerTest, FailedDeleteKeepsTheFinalizerAndIsRetriedWithBackoff) {
  cloud_.instances = {"i-2"};
  cloud_.failDeletes = 2;
  api_->seed("peerpods", peerPod("web-resource-bbbbb", "i-2", "pod-uid-2"));
  ASSERT_TRUE(client_->remove(k8s::resources::kPeerPods, "team", "web-resource-bbbbb"));
  auto c = makeController();
  auto st = c->reconcile("team", "web-resource-bbbbb");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("cloud API throttled"), std::string::npos);
  EXPECT_TRUE(api_->object("peerpods", "team", "web-resource-bbbbb"));  // finalizer kept

  // The running controller retries until the cloud lets it through.
  std::jthread runner([&](std::stop_token stop) { c->run(stop); });
  ASSERT_TRUE(waitFor([&] { return !api_->object("peerpods", "team", "web-resource-bbbbb"); }));
  runner.request_stop();
  runner.join();
  EXPECT_TRUE(cloud_.instances.empty());
  EXPECT_EQ(cloud_.deletes, 3);
  // `kubectl describe peerpod` tells why it stayed Terminating, then that it was cleaned up.
  std::vector<std::string> events;
  for (auto& e : api_->objects("events", "team")) {
    EXPECT_EQ(e["involvedObject"]["kind"], "PeerPod");
    EXPECT_EQ(e["involvedObject"]["name"], "web-resource-bbbbb");
    events.push_back(e["type"].get<std::string>() + " " + e["reason"].get<std::string>() + ": " +
                     e["message"].get<std::string>());
  }
  std::sort(events.begin(), events.end());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(
      events[0],
      "Normal InstanceDeleted: Deleted instance i-2 (memory) left behind by the cloud-api-adaptor");
  EXPECT_TRUE(events[1].starts_with(
      "Warning CleanupFailed: deleting instance i-2 of PeerPod team/web-resource-bbbbb: "
      "cloud API throttled (attempt 1;"))
      << events[1];
  EXPECT_NE(c->metricsText().find("peerpod_ctrl_instance_deletes_total{result=\"error\"} 2"),
            std::string::npos);
}

TEST_F(ControllerTest, WatchedDeletionsAreHandled) {
  cloud_.instances = {"i-3", "i-4"};
  api_->seed("peerpods", peerPod("a-resource-ccccc", "i-3", "pod-a"));
  auto c = makeController();
  std::jthread runner([&](std::stop_token stop) { c->run(stop); });
  ASSERT_TRUE(waitFor([&] { return c->ready(); }));
  EXPECT_EQ(cloud_.instances.size(), 2u);  // a live PeerPod is left alone
  api_->seed("peerpods", peerPod("b-resource-ddddd", "i-4", "pod-b"));
  ASSERT_TRUE(client_->remove(k8s::resources::kPeerPods, "team", "b-resource-ddddd"));
  ASSERT_TRUE(waitFor([&] { return !api_->object("peerpods", "team", "b-resource-ddddd"); }));
  EXPECT_EQ(cloud_.instances, std::set<std::string>{"i-3"});
  EXPECT_TRUE(api_->object("peerpods", "team", "a-resource-ccccc"));
}

TEST_F(ControllerTest, OlderDuplicatesOfTheSameOwnerAreDeleted) {
  cloud_.instances = {"i-old", "i-new", "i-other"};
  api_->seed("peerpods", peerPod("web-resource-old11", "i-old", "pod-uid", "2026-01-01T10:00:00Z"));
  api_->seed("peerpods", peerPod("web-resource-new22", "i-new", "pod-uid", "2026-01-01T10:05:00Z"));
  api_->seed("peerpods",
             peerPod("db-resource-oth33", "i-other", "other-pod", "2026-01-01T09:00:00Z"));
  Json ownerless = peerPod("lost-resource-xxxxx", "i-lost", "", "2026-01-01T08:00:00Z");
  ownerless["metadata"].erase("ownerReferences");
  api_->seed("peerpods", ownerless);
  auto c = makeController();
  ASSERT_TRUE(c->reconcile("team", "web-resource-new22"));
  auto old = api_->object("peerpods", "team", "web-resource-old11");
  ASSERT_TRUE(old);  // held by its finalizer until its instance is gone
  EXPECT_TRUE(old->at("metadata").contains("deletionTimestamp"));
  ASSERT_TRUE(c->reconcile("team", "web-resource-old11"));
  EXPECT_FALSE(api_->object("peerpods", "team", "web-resource-old11"));
  EXPECT_EQ(cloud_.instances, (std::set<std::string>{"i-new", "i-other"}));
  // The newer one, another pod's and the ownerless one are untouched (upstream panics on the last).
  ASSERT_TRUE(c->reconcile("team", "web-resource-old11"));
  ASSERT_TRUE(c->reconcile("team", "lost-resource-xxxxx"));
  EXPECT_FALSE(api_->object("peerpods", "team", "web-resource-new22")
                   ->at("metadata")
                   .contains("deletionTimestamp"));
  EXPECT_FALSE(api_->object("peerpods", "team", "db-resource-oth33")
                   ->at("metadata")
                   .contains("deletionTimestamp"));
}

TEST_F(ControllerTest, FinalizerRemovalConflictIsRetried) {
  cloud_.instances = {"i-5"};
  Json pp = peerPod("web-resource-eeeee", "i-5", "u");
  pp["metadata"]["finalizers"] = {"peer.pod/finalizer", "example.com/other"};
  api_->seed("peerpods", pp);
  ASSERT_TRUE(client_->remove(k8s::resources::kPeerPods, "team", "web-resource-eeeee"));
  api_->failNext("PUT", "/peerpods/web-resource-eeeee", 409, "Conflict");
  auto c = makeController();
  auto st = c->reconcile("team", "web-resource-eeeee");
  ASSERT_FALSE(st);
  EXPECT_TRUE(k8s::isConflict(st.error()));
  ASSERT_TRUE(c->reconcile("team", "web-resource-eeeee"));  // instance already gone: success
  auto left = api_->object("peerpods", "team", "web-resource-eeeee");
  ASSERT_TRUE(left);  // the other finalizer is not ours to remove
  EXPECT_EQ(left->at("metadata")["finalizers"], Json::array({"example.com/other"}));
}

TEST_F(ControllerTest, MissingConfigurationIsReportedAndRetried) {
  api_->seed("peerpods", peerPod("web-resource-fffff", "i-6", "u"));
  ASSERT_TRUE(client_->remove(k8s::resources::kPeerPods, "team", "web-resource-fffff"));
  ControllerOptions o;
  auto c = std::make_unique<Controller>(client_, o);  // no PEERPODS_NAMESPACE, real registry
  auto st = c->reconcile("team", "web-resource-fffff");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("PEERPODS_NAMESPACE"), std::string::npos);

  o.configNamespace = "pp-system";
  Controller unknown(client_, o);
  Json pp = peerPod("x-resource-ggggg", "i-7", "u");
  pp["spec"]["cloudProvider"] = "nosuchcloud";
  api_->seed("peerpods", pp);
  ASSERT_TRUE(client_->remove(k8s::resources::kPeerPods, "team", "x-resource-ggggg"));
  st = unknown.reconcile("team", "x-resource-ggggg");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("unsupported cloud provider: nosuchcloud"), std::string::npos);
}

TEST_F(ControllerTest, SweepReportsOrphansAndDeletesThemOnlyWhenAskedAndOldEnough) {
  cloud_.instances = {"i-owned", "i-orphan"};
  api_->seed("peerpods", peerPod("web-resource-hhhhh", "i-owned", "u"));
  auto report = makeController()->sweep();
  ASSERT_TRUE(report) << report.error().toString();
  EXPECT_EQ(report->providersChecked, 1);
  EXPECT_EQ(report->instances, 2);
  EXPECT_EQ(report->orphans, std::vector<std::string>{"i-orphan"});
  EXPECT_TRUE(report->deleted.empty());
  EXPECT_EQ(cloud_.instances.size(), 2u);

  ControllerOptions o;
  o.deleteOrphans = true;
  o.orphanMinAge = 150ms;
  auto c = makeController(o);
  report = c->sweep();
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->deleted.empty());  // first seen now: it may be a VM whose PeerPod is coming
  std::this_thread::sleep_for(200ms);
  report = c->sweep();
  ASSERT_TRUE(report);
  EXPECT_EQ(report->deleted, std::vector<std::string>{"i-orphan"});
  EXPECT_EQ(cloud_.instances, std::set<std::string>{"i-owned"});
  EXPECT_NE(c->metricsText().find("peerpod_ctrl_orphans_deleted_total 1"), std::string::npos);

  // A provider that cannot list is skipped, not an error.
  cloud_.canList = false;
  report = c->sweep();
  ASSERT_TRUE(report);
  EXPECT_EQ(report->providersChecked, 0);
}

TEST_F(ControllerTest, MetricsAreValidPrometheusText) {
  auto c = makeController();
  auto parsed = pp::testing::parsePrometheusText(c->metricsText());
  ASSERT_TRUE(parsed.error.empty()) << parsed.error;
  EXPECT_EQ(parsed.type("peerpod_ctrl_reconciles"), "counter");
  EXPECT_EQ(parsed.value("peerpod_ctrl_reconciles_total", {{"result", "error"}}), 0);
  EXPECT_EQ(parsed.value("peerpod_ctrl_ready"), 0);
  EXPECT_EQ(parsed.type("peerpod_ctrl_orphan_instances"), "gauge");
  for (const auto& f : parsed.families)
    EXPECT_TRUE(f["name"].get<std::string>().starts_with("peerpod_ctrl_")) << f["name"];
}

}  // namespace
}  // namespace pp::peerpod_ctrl
