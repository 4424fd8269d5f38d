// The Kubernetes client against the in-memory fake API server (tests/fakes/fake_kube_api.h).
#include "k8s/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "base/encoding.h"
#include "base/files.h"
#include "fake_kube_api.h"
#include "net/tls.h"

namespace pp::k8s {
namespace {

using namespace std::chrono_literals;
using fakes::FakeKubeApi;

Json pod(const std::string& name, const std::string& ns = "default") {
  return Json{{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"app", "web"}}}}},
              {"spec", {{"nodeName", "node-1"}, {"runtimeClassName", "kata-remote"}}}};
}

class K8sClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_ = FakeKubeApi::start({.token = "secret-token"});
    client_ = std::make_unique<Client>(api_->clientConfig());
  }
  std::unique_ptr<FakeKubeApi> api_;
  std::unique_ptr<Client> client_;
};

TEST(WatchLine, DecodesEventsAndRefusesWhatIsNoEvent) {
  auto blank = parseWatchLine(" \r", "watch pods");
  ASSERT_TRUE(blank);
  EXPECT_FALSE(*blank);
  auto added =
      parseWatchLine(R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"7"}}})"
                     "\r",
                     "watch pods");
  ASSERT_TRUE(added && *added);
  EXPECT_EQ((*added)->type, "ADDED");
  EXPECT_EQ(field((*added)->object, "metadata", "resourceVersion"), "7");
  for (std::string_view bad :
       {"{", R"({"type":"ADDED"})", R"({"type":1,"object":{}})",
        R"({"type":"ADDED","object":{"metadata":[]}})", R"({"type":"ADDED","object":{}})"}) {
    auto e = parseWatchLine(bad, "watch pods");
    ASSERT_FALSE(e) << bad;
    EXPECT_EQ(e.error().code, Code::kInternal) << bad;
    EXPECT_NE(e.error().message.find("watch pods"), std::string::npos) << e.error().message;
  }
  auto gone = parseWatchLine(
      R"({"type":"ERROR","object":{"kind":"Status","reason":"Expired","message":"too old","code":410}})",
      "watch pods");
  ASSERT_FALSE(gone);
  EXPECT_TRUE(isGone(gone.error())) << gone.error().toString();
}

// Found by fuzz_watch_line: an ERROR event nested a million levels deep overflowed the stack
// when its Status was dumped into the error; deep documents are refused as malformed.
TEST(WatchLine, DeeplyNestedEventsAreMalformed) {
  const size_t depth = 100000;
  for (std::string type : {"ERROR", "ADDED"}) {
    std::string line = R"({"type":")" + type + R"(","object":{"metadata":{},"code":410,"x":)" +
                       std::string(depth, '[') + std::string(depth, ']') + "}}";
    auto e = parseWatchLine(line, "watch pods");
    ASSERT_FALSE(e) << type;
    EXPECT_NE(e.error().message.find("malformed watch event"), std::string::npos)
        << e.error().message;
  }
  std::string shallow = R"({"type":"ADDED","object":{"metadata":{},"x":)" + std::string(100, '[') +
                        std::string(100, ']') + "}}";
  EXPECT_TRUE(parseWatchLine(shallow, "watch pods"));
}

TEST_F(K8sClientTest, Paths) {
  EXPECT_EQ(Client::path(resources::kPods, "ns1", "p"), "/api/v1/namespaces/ns1/pods/p");
  EXPECT_EQ(Client::path(resources::kNodes, "ignored", "n", "status"), "/api/v1/nodes/n/status");
  EXPECT_EQ(Client::path(resources::kPeerPods, "", ""),
            "/apis/confidentialcontainers.org/v1alpha1/peerpods");
  EXPECT_EQ(Client::path(resources::kPeerPods, "a", "b"),
            "/apis/confidentialcontainers.org/v1alpha1/namespaces/a/peerpods/b");
}

TEST_F(K8sClientTest, CreateGetListDelete) {
  auto created = client_->create(resources::kPods, "default", pod("web-1"));
  ASSERT_TRUE(created) << created.error().toString();
  EXPECT_FALSE((*created)["metadata"]["uid"].get<std::string>().empty());
  EXPECT_FALSE((*created)["metadata"]["resourceVersion"].get<std::string>().empty());
  ASSERT_TRUE(client_->create(resources::kPods, "other", pod("web-2", "other")));

  auto got = client_->get(resources::kPods, "default", "web-1");
  ASSERT_TRUE(got);
  EXPECT_EQ((*got)["spec"]["nodeName"], "node-1");

  auto all = client_->list(resources::kPods, "");
  ASSERT_TRUE(all);
  EXPECT_EQ((*all)["items"].size(), 2u);
  auto inDefault = client_->list(resources::kPods, "default");
  ASSERT_TRUE(inDefault);
  EXPECT_EQ((*inDefault)["items"].size(), 1u);
  auto byField = client_->list(resources::kPods, "", {.fieldSelector = "metadata.name=web-2"});
  ASSERT_TRUE(byField);
  ASSERT_EQ((*byField)["items"].size(), 1u);
  EXPECT_EQ((*byField)["items"][0]["metadata"]["namespace"], "other");
  auto byLabel = client_->list(resources::kPods, "", {.labelSelector = "app=db"});
  ASSERT_TRUE(byLabel);
  EXPECT_TRUE((*byLabel)["items"].empty());

  ASSERT_TRUE(client_->remove(resources::kPods, "default", "web-1"));
  auto gone = client_->get(resources::kPods, "default", "web-1");
  ASSERT_FALSE(gone);
  EXPECT_TRUE(isNotFound(gone.error()));
  EXPECT_NE(gone.error().message.find("NotFound"), std::string::npos);
  EXPECT_NE(gone.error().message.find("pods default/web-1"), std::string::npos);
}

TEST_F(K8sClientTest, ListFollowsPages) {
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(client_->create(resources::kPods, "default", pod("p" + std::to_string(i))));
  }
  api_->clearRequests();
  auto all = client_->list(resources::kPods, "default", {.pageSize = 3});
  ASSERT_TRUE(all) << all.error().toString();
  ASSERT_EQ((*all)["items"].size(), 7u);
  EXPECT_EQ((*all)["items"][6]["metadata"]["name"], "p6");
  EXPECT_FALSE((*all)["metadata"].contains("continue"));
  auto reqs = api_->requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_NE(reqs[1].query.find("continue="), std::string::npos);
}

TEST_F(K8sClientTest, RequestsCarryTheTokenAndContentTypes) {
  ASSERT_TRUE(client_->create(resources::kPods, "default", pod("p")));
  ASSERT_TRUE(client_->patch(resources::kPods, "default", "p", PatchType::kMergePatch,
                             Json{{"metadata", {{"labels", {{"x", "y"}}}}}}));
  auto reqs = api_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].contentType, "application/json");
  EXPECT_EQ(reqs[1].method, "PATCH");
  EXPECT_EQ(reqs[1].contentType, "application/merge-patch+json");

  ClientConfig wrong = api_->clientConfig();
  wrong.token = "nope";
  Client bad(wrong);
  auto denied = bad.get(resources::kPods, "default", "p");
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, Code::kUnauthenticated);
}

TEST_F(K8sClientTest, ErrorsMapToCodesWithReason) {
  ASSERT_TRUE(client_->create(resources::kPods, "default", pod("p")));
  auto again = client_->create(resources::kPods, "default", pod("p"));
  ASSERT_FALSE(again);
  EXPECT_TRUE(isAlreadyExists(again.error()));
  EXPECT_NE(again.error().message.find("AlreadyExists"), std::string::npos);

  api_->failNext("GET", "/pods/p", 403, "Forbidden");
  auto forbidden = client_->get(resources::kPods, "default", "p");
  ASSERT_FALSE(forbidden);
  EXPECT_EQ(forbidden.error().code, Code::kPermissionDenied);
  EXPECT_NE(forbidden.error().message.find("Forbidden: injected failure (HTTP 403)"),
            std::string::npos);

  api_->failNext("GET", "/pods/p", 503, "ServiceUnavailable");
  auto unavailable = client_->get(resources::kPods, "default", "p");
  ASSERT_FALSE(unavailable);
  EXPECT_EQ(unavailable.error().code, Code::kUnavailable);

  Error notStatus = apiError(502, "<html>bad gateway</html>\n", "get x");
  EXPECT_EQ(notStatus.code, Code::kUnavailable);
  EXPECT_NE(notStatus.message.find("<html>bad gateway</html>"), std::string::npos);
}

TEST_F(K8sClientTest, StaleUpdateConflicts) {
  auto created = client_->create(resources::kConfigMaps, "ns",
                                 Json{{"metadata", {{"name", "cm"}}}, {"data", {{"a", "1"}}}});
  ASSERT_TRUE(created);
  Json first = *created;
  first["data"]["a"] = "2";
  auto updated = client_->update(resources::kConfigMaps, "ns", first);
  ASSERT_TRUE(updated) << updated.error().toString();
  EXPECT_NE((*updated)["metadata"]["resourceVersion"], (*created)["metadata"]["resourceVersion"]);

  Json stale = *created;  // still carries the old resourceVersion
  stale["data"]["a"] = "3";
  auto conflict = client_->update(resources::kConfigMaps, "ns", stale);
  ASSERT_FALSE(conflict);
  EXPECT_TRUE(isConflict(conflict.error()));
  EXPECT_NE(conflict.error().message.find("Conflict"), std::string::npos);
  EXPECT_EQ(api_->object("configmaps", "ns", "cm")->at("data")["a"], "2");
}

TEST_F(K8sClientTest, JsonPatchAndStatusSubresource) {
  api_->seed("nodes",
             Json{{"metadata", {{"name", "node-1"}}}, {"status", {{"capacity", {{"cpu", "4"}}}}}});
  Json add = Json::array(
      {{{"op", "add"}, {"path", "/status/capacity/kata.peerpods.io~1vm"}, {"value", "10"}}});
  auto patched =
      client_->patch(resources::kNodes, "", "node-1", PatchType::kJsonPatch, add, "status");
  ASSERT_TRUE(patched) << patched.error().toString();
  EXPECT_EQ((*patched)["status"]["capacity"]["kata.peerpods.io/vm"], "10");

  // A main-resource update cannot change the status.
  Json node = *patched;
  node["status"]["capacity"]["cpu"] = "64";
  node["metadata"]["labels"] = {{"a", "b"}};
  auto updated = client_->update(resources::kNodes, "", node);
  ASSERT_TRUE(updated);
  EXPECT_EQ((*updated)["status"]["capacity"]["cpu"], "4");
  EXPECT_EQ((*updated)["metadata"]["labels"]["a"], "b");

  Json remove =
      Json::array({{{"op", "remove"}, {"path", "/status/capacity/kata.peerpods.io~1vm"}}});
  ASSERT_TRUE(
      client_->patch(resources::kNodes, "", "node-1", PatchType::kJsonPatch, remove, "status"));
  EXPECT_FALSE(api_->object("nodes", "", "node-1")
                   ->at("status")["capacity"]
                   .contains("kata.peerpods.io/vm"));
  // Removing what is not there is rejected, as by the API server.
  auto again =
      client_->patch(resources::kNodes, "", "node-1", PatchType::kJsonPatch, remove, "status");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Code::kInvalidArgument);
}

TEST_F(K8sClientTest, FinalizersHoldDeletion) {
  Json pp{{"apiVersion", kPeerPodApiVersion},
          {"kind", "PeerPod"},
          {"metadata", {{"name", "web-resource-abcde"}, {"finalizers", {kPeerPodFinalizer}}}},
          {"spec", {{"instanceID", "i-1"}, {"cloudProvider", "aws"}}}};
  ASSERT_TRUE(client_->create(resources::kPeerPods, "default", pp));
  auto deleted = client_->remove(resources::kPeerPods, "default", "web-resource-abcde");
  ASSERT_TRUE(deleted);
  auto held = api_->object("peerpods", "default", "web-resource-abcde");
  ASSERT_TRUE(held);
  EXPECT_TRUE(held->at("metadata").contains("deletionTimestamp"));

  Json dropFinalizers = Json::array({{{"op", "remove"}, {"path", "/metadata/finalizers"}}});
  ASSERT_TRUE(client_->patch(resources::kPeerPods, "default", "web-resource-abcde",
                             PatchType::kJsonPatch, dropFinalizers));
  EXPECT_FALSE(api_->object("peerpods", "default", "web-resource-abcde"));
}

TEST_F(K8sClientTest, WatchStreamsEventsAsTheyHappen) {
  auto list = client_->list(resources::kPods, "default");
  ASSERT_TRUE(list);
  std::string from = (*list)["metadata"]["resourceVersion"];

  std::mutex mu;
  std::vector<std::string> seen;
  std::stop_source stop;
  std::thread watcher([&] {
    WatchOptions o{.resourceVersion = from, .timeoutSeconds = 10};
    auto r = client_->watch(
        resources::kPods, "default", o,
        [&](const WatchEvent& e) {
          std::lock_guard lock(mu);
          seen.push_back(e.type + " " + e.object["metadata"]["name"].get<std::string>());
          return seen.size() < 3;
        },
        stop.get_token());
    EXPECT_TRUE(r) << r.error().toString();
  });
  ASSERT_TRUE(client_->create(resources::kPods, "default", pod("a")));
  ASSERT_TRUE(client_->create(resources::kPods, "elsewhere", pod("b", "elsewhere")));
  ASSERT_TRUE(client_->patch(resources::kPods, "default", "a", PatchType::kMergePatch,
                             Json{{"metadata", {{"labels", {{"v", "2"}}}}}}));
  ASSERT_TRUE(client_->remove(resources::kPods, "default", "a"));
  watcher.join();
  EXPECT_EQ(seen, (std::vector<std::string>{"ADDED a", "MODIFIED a", "DELETED a"}));
}

TEST_F(K8sClientTest, WatchResumesFromAVersionAndReportsGone) {
  auto a = client_->create(resources::kPods, "default", pod("a"));
  ASSERT_TRUE(a);
  std::string afterA = (*a)["metadata"]["resourceVersion"];
  ASSERT_TRUE(client_->create(resources::kPods, "default", pod("b")));

  // Resuming from a's version replays only what came after it.
  std::vector<std::string> seen;
  auto last =
      client_->watch(resources::kPods, "default", {.resourceVersion = afterA, .timeoutSeconds = 1},
                     [&](const WatchEvent& e) {
                       seen.push_back(e.object["metadata"]["name"]);
                       return true;
                     });
  ASSERT_TRUE(last) << last.error().toString();  // the server ended the stream after 1 s
  EXPECT_EQ(seen, std::vector<std::string>{"b"});
  EXPECT_EQ(*last, std::to_string(api_->resourceVersion()));

  api_->compactHistory();
  auto gone =
      client_->watch(resources::kPods, "default", {.resourceVersion = afterA, .timeoutSeconds = 1},
                     [&](const WatchEvent&) { return true; });
  ASSERT_FALSE(gone);
  EXPECT_TRUE(isGone(gone.error())) << gone.error().toString();
  EXPECT_NE(gone.error().message.find("Expired"), std::string::npos);
}

TEST_F(K8sClientTest, WatchStopsPromptlyWhenAsked) {
  std::stop_source stop;
  auto started = std::chrono::steady_clock::now();
  std::thread stopper([&] {
    std::this_thread::sleep_for(200ms);
    stop.request_stop();
  });
  auto r = client_->watch(
      resources::kPods, "", {.timeoutSeconds = 20}, [](const WatchEvent&) { return true; },
      stop.get_token());
  stopper.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kCancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
}

TEST_F(K8sClientTest, InformerRelistsAfterGoneAndResumesAfterClosedStreams) {
  ASSERT_TRUE(client_->create(resources::kPods, "default", pod("a")));
  std::mutex mu;
  int lists = 0;
  std::vector<std::string> events;
  std::jthread informer([&](std::stop_token stop) {
    runInformer(
        *client_, resources::kPods, "default", {},
        {.onList =
             [&](const Json& list) {
               std::lock_guard lock(mu);
               ++lists;
               EXPECT_FALSE(list["items"].empty());
             },
         .onEvent =
             [&](const WatchEvent& e) {
               std::lock_guard lock(mu);
               events.push_back(e.type + " " + e.object["metadata"]["name"].get<std::string>());
             }},
        stop, 5);
  });
  auto waitFor = [&](auto pred) {
    for (int i = 0; i < 200; ++i) {
      {
        std::lock_guard lock(mu);
        if (pred()) return true;
      }
      std::this_thread::sleep_for(20ms);
    }
    return false;
  };
  ASSERT_TRUE(waitFor([&] { return lists == 1; }));
  std::this_thread::sleep_for(100ms);  // let the watch start
  ASSERT_TRUE(client_->create(resources::kPods, "default", pod("b")));
  ASSERT_TRUE(waitFor([&] { return events.size() == 1; }));

  // The server ends the stream: the informer resumes without listing again and misses nothing.
  api_->closeWatches();
  ASSERT_TRUE(client_->create(resources::kPods, "default", pod("c")));
  ASSERT_TRUE(waitFor([&] { return events.size() == 2; }));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(lists, 1);
  }
  // History lost and the stream closed: the resume gets 410 and the informer lists again.
  api_->compactHistory();
  api_->closeWatches();
  ASSERT_TRUE(waitFor([&] { return lists == 2; }));
  informer.request_stop();
  informer.join();
  EXPECT_EQ(events, (std::vector<std::string>{"ADDED b", "ADDED c"}));
}

// A server that answers whatever the test says, to feed the client malformed data.
TEST(K8sClientMalformed, BadAnswersAreErrorsNotCrashes) {
  std::string next;
  int status = 200;
  auto server = net::HttpServer::start({}, [&](const net::ServerRequest&) {
    return net::ServerResponse{status, {{"Content-Type", "application/json"}}, next};
  });
  ASSERT_TRUE(server);
  ClientConfig config;
  config.server = (*server)->baseUrl();
  Client client(config);
  for (const char* body : {"[]", "{\"metadata\": 5}", "not json", "{\"items\": [1]}",
                           "{\"items\": [{\"metadata\": []}]}", "{\"items\": 7}"}) {
    next = body;
    auto r = client.list(resources::kPods, "");
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.error().code, Code::kInternal) << body;
  }
  next = "{\"metadata\": {\"name\": 7}}";
  auto odd = client.get(resources::kPods, "a", "b");
  ASSERT_TRUE(odd);  // well-formed enough; typed accessors give ""
  EXPECT_EQ(field(*odd, "metadata", "name"), "");
  status = 404;
  next = "{\"kind\": \"Status\", \"reason\": 5, \"message\": [\"x\"]}";
  auto notFound = client.get(resources::kPods, "a", "b");
  ASSERT_FALSE(notFound);
  EXPECT_TRUE(isNotFound(notFound.error()));
  status = 200;
  for (const char* stream :
       {"{\"type\": \"ADDED\"}\n", "{\"type\": \"ADDED\", \"object\": {\"metadata\": 1}}\n",
        "garbage\n"}) {
    next = stream;
    auto w = client.watch(resources::kPods, "", {.timeoutSeconds = 1},
                          [](const WatchEvent&) { return true; });
    ASSERT_FALSE(w) << stream;
    EXPECT_EQ(w.error().code, Code::kInternal) << stream;
  }
}

TEST(K8sClientTls, ClientCertificateFromKubeconfigData) {
  auto ca = net::CertificateAuthority::create("test", "test-ca");
  ASSERT_TRUE(ca);
  auto server = ca->issueServer("127.0.0.1");
  auto user = ca->issueClient("system:masters", "admin");
  ASSERT_TRUE(server && user);
  auto tls = net::makeServerContext(
      {.certPem = server->certPem, .keyPem = server->keyPem, .clientCaPem = ca->certPem()});
  ASSERT_TRUE(tls);
  auto api = FakeKubeApi::start({.tls = *tls});
  std::string kubeconfig =
      "current-context: c\nclusters: [{name: k, cluster: {server: '" + api->url() +
      "', certificate-authority-data: " + encoding::base64Encode(ca->certPem()) +
      "}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\nusers: [{name: u, user: "
      "{client-certificate-data: " +
      encoding::base64Encode(user->certPem) +
      ", client-key-data: " + encoding::base64Encode(user->keyPem) + "}}]\n";
  auto config = kubeconfigFromText(kubeconfig, "");
  ASSERT_TRUE(config) << config.error().toString();
  Client client(*config);
  api->seed("pods", pod("p"));
  auto got = client.get(resources::kPods, "default", "p");
  ASSERT_TRUE(got) << got.error().toString();

  // Without the client certificate the TLS handshake is refused.
  ClientConfig anonymous = *config;
  anonymous.clientCertPem.clear();
  anonymous.clientKeyPem.clear();
  Client refused(anonymous);
  auto denied = refused.get(resources::kPods, "default", "p");
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, Code::kUnavailable);
}

TEST(K8sClientTls, VerifiesTheServerWithTheKubeconfigCaAndRereadsTheTokenFile) {
  auto ca = net::CertificateAuthority::create("test", "test-ca");
  ASSERT_TRUE(ca);
  auto server = ca->issueServer("127.0.0.1");
  ASSERT_TRUE(server);
  auto tls = net::makeServerContext({.certPem = server->certPem, .keyPem = server->keyPem});
  ASSERT_TRUE(tls);
  auto api = FakeKubeApi::start({.token = "rotated-1", .tls = *tls});
  ASSERT_TRUE(api->url().starts_with("https://"));

  char tmpl[] = "/tmp/k8stokXXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  ASSERT_TRUE(files::writeAtomic(dir + "/token", "rotated-1\n"));
  ClientConfig config;
  config.server = api->url();
  config.caPem = ca->certPem();
  config.tokenFile = dir + "/token";
  Client client(config);
  api->seed("pods", pod("p"));
  ASSERT_TRUE(client.get(resources::kPods, "default", "p"));

  // The kubelet rotates the projected token; the next call uses the new one.
  // (A distinct size and mtime make the change visible at once.)
  std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(files::writeAtomic(dir + "/token", "rotated-two\n"));
  auto stale = client.get(resources::kPods, "default", "p");
  ASSERT_FALSE(stale);  // the server still wants the old token
  EXPECT_EQ(stale.error().code, Code::kUnauthenticated);
  auto reqs = api->requests();
  ASSERT_FALSE(reqs.empty());

  // Without the CA the server is not trusted.
  ClientConfig untrusted = config;
  untrusted.caPem.clear();
  untrusted.caFile = dir + "/token";  // not a CA bundle
  Client other(untrusted);
  auto refused = other.get(resources::kPods, "default", "p");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Code::kUnavailable);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pp::k8s
