// The ibmcloud provider on the fake IAM, VPC and Global Tagging APIs: request shapes, sizing,
// error mapping, retries, failure injection at every step of a create, start-up settings.
#include "providers/ibmcloud/ibmcloud_provider.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fake_kube_api.h"
#include "providers/ibmcloud/ibmcloud_test_harness.h"
#include "providers/plugin_loader.h"
#include "providers/registry.h"
#include "providers/testing/fake_cloud.h"
#include "providers/testing/provider_contract.h"

namespace pp::providers::ibmcloud {
namespace {

using json = nlohmann::json;
using testing::IbmHarness;

CreateRequest request(const std::string& sandbox = "5ab0c1d2e3f40718", InstanceSpec spec = {}) {
  CreateRequest r;
  r.podName = "web";
  r.podNamespace = "shop";
  r.sandboxId = sandbox;
  r.instanceName = "podvm-web-" + sandbox.substr(0, 8);
  r.userData = "#cloud-config\nwrite_files: []\n";
  r.spec = spec;
  return r;
}

class IbmCloudProviderTest : public ::testing::Test {
 protected:
  void TearDown() override {
    auto problems = h.vpc.problems();
    EXPECT_TRUE(problems.empty()) << problems.front();
    auto iamProblems = h.iam.problems();
    EXPECT_TRUE(iamProblems.empty()) << iamProblems.front();
  }
  // A create that must fail and leave nothing behind.
  Error failedCreate(IbmCloudProvider& p, const CreateRequest& r = request()) {
    auto inst = p.createInstance(r);
    EXPECT_FALSE(inst);
    EXPECT_TRUE(h.leftovers().empty()) << h.leftovers().front();
    return inst ? Error{Code::kOk, ""} : inst.error();
  }
  IbmHarness h;
};

TEST_F(IbmCloudProviderTest, CreateSendsUpstreamsPrototypeAndTagsTheInstance) {
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  auto made = h.vpc.instances();
  ASSERT_EQ(made.size(), 1u);
  const auto& [id, fake] = *made.begin();
  EXPECT_EQ(inst->id, id);
  EXPECT_EQ(inst->name, "podvm-web-5ab0c1d2");
  EXPECT_EQ(inst->ips, fake.ips);
  const json& proto = fake.prototype;
  EXPECT_EQ(proto["name"], "podvm-web-5ab0c1d2");
  EXPECT_EQ(proto["image"], json({{"id", testing::kImageAmd64}}));
  EXPECT_EQ(proto["profile"], json({{"name", "bx2-2x8"}}));
  EXPECT_EQ(proto["zone"], json({{"name", h.vpc.zone()}}));
  EXPECT_EQ(proto["vpc"], json({{"id", h.vpc.vpcId()}}));
  EXPECT_EQ(proto["keys"], json::array({{{"id", testing::kKey}}}));
  EXPECT_EQ(proto["user_data"], "#cloud-config\nwrite_files: []\n");  // plain, as upstream
  EXPECT_EQ(proto["primary_network_interface"],
            json({{"subnet", {{"id", testing::kSubnet}}},
                  {"security_groups", json::array({{{"id", testing::kSg}}})}}));
  EXPECT_EQ(proto["metadata_service"], json({{"enabled", true}, {"protocol", "http"}}));
  EXPECT_EQ(proto["confidential_compute_mode"], "tdx");
  EXPECT_EQ(proto["enable_secure_boot"], true);
  EXPECT_EQ(proto["resource_group"], json({{"id", "rg-1"}}));
  EXPECT_FALSE(proto.contains("network_interfaces"));

  auto tags = h.vpc.tagsOf(fake.crn);
  std::vector<std::string> want = {"coco-pod-vm:c0ffee-cluster-1",
                                   "team:confidential",
                                   "env:test",
                                   "io.peerpods.sandbox-id:5ab0c1d2e3f40718",
                                   "io.peerpods.pod-name:web",
                                   "io.peerpods.pod-namespace:shop",
                                   "io.peerpods.node:worker-1"};
  EXPECT_EQ(tags, want);
  // Every VPC call carried version and generation=2 (the fake checks; no problems), and a
  // token from the fake IAM.
  for (const auto& c : h.vpc.calls()) EXPECT_TRUE(h.iam.valid(c.authorization)) << c.path;
  EXPECT_EQ(h.iam.tokensIssued(), 1);
}

TEST_F(IbmCloudProviderTest, DisableCvmAndSecondaryNic) {
  auto c = h.baseConfig();
  c.disableCvm = true;
  c.secondarySubnetId = testing::kSubnet2;
  c.secondarySecurityGroupId = testing::kSg2;
  c.primarySecurityGroupId = "";
  c.keyId = "";
  c.resourceGroupId = "";
  auto p = h.make(c);
  ASSERT_TRUE(p);
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_EQ(inst->ips.size(), 2u);
  const json proto = h.vpc.instances().begin()->second.prototype;
  EXPECT_EQ(proto["confidential_compute_mode"], "disabled");
  EXPECT_EQ(proto["enable_secure_boot"], false);
  EXPECT_EQ(proto["keys"], json::array());
  EXPECT_FALSE(proto.contains("resource_group"));
  EXPECT_FALSE(proto["primary_network_interface"].contains("security_groups"));
  EXPECT_EQ(proto["network_interfaces"],
            json::array({{{"allow_ip_spoofing", true},
                          {"subnet", {{"id", testing::kSubnet2}}},
                          {"security_groups", json::array({{{"id", testing::kSg2}}})}}}));
}

TEST_F(IbmCloudProviderTest, SizingAnnotationsChooseFromTheProfileList) {
  auto c = h.baseConfig();
  c.profileList = {"bx2-2x8", "bx2-4x16", "bz2-2x8"};
  c.imageIds = {testing::kImageS390x, "r022-missing-image", testing::kImageAmd64};
  auto p = h.make(c);
  ASSERT_TRUE(p);
  // The missing image is dropped at start (as upstream).
  ASSERT_EQ(p->images().size(), 2u);
  auto proto = p->instancePrototype(request("a1", {.vcpus = 4, .memoryMiB = 16384}));
  ASSERT_TRUE(proto) << proto.error().message;
  EXPECT_EQ((*proto)["profile"]["name"], "bx2-4x16");
  EXPECT_EQ((*proto)["image"]["id"], testing::kImageAmd64);  // the profile's architecture
  proto = p->instancePrototype(request("a2", {.instanceType = "bz2-2x8"}));
  ASSERT_TRUE(proto);
  EXPECT_EQ((*proto)["image"]["id"], testing::kImageS390x);
  proto = p->instancePrototype(request("a3", {.image = "r022-from-annotation"}));
  ASSERT_TRUE(proto);
  EXPECT_EQ((*proto)["image"]["id"], "r022-from-annotation");
  EXPECT_EQ((*proto)["profile"]["name"], "bx2-2x8");  // the default
  auto bad = p->instancePrototype(request("a4", {.instanceType = "mx2-128x1024"}));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Code::kInvalidArgument);
  auto tooBig = p->instancePrototype(request("a5", {.vcpus = 64, .memoryMiB = 1 << 20}));
  EXPECT_FALSE(tooBig);
  auto gpu = p->instancePrototype(request("a6", {.gpus = 1}));
  EXPECT_FALSE(gpu);
  // Profiles are looked up once, at start.
  EXPECT_EQ(h.vpc.calls("GET /v1/instance/profiles/").size(), 3u);
}

TEST_F(IbmCloudProviderTest, IbmErrorBodyIsInTheMessage) {
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  h.vpc.failures().add("POST /v1/instances",
                       {400, "over_quota", "The vCPU quota of the region is exhausted.", ""});
  Error e = failedCreate(*p);
  EXPECT_EQ(e.code, Code::kInvalidArgument);
  EXPECT_NE(e.message.find("HTTP 400 over_quota"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("The vCPU quota of the region is exhausted."), std::string::npos);
  EXPECT_NE(e.message.find("(trace fake-trace-"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("podvm-web-5ab0c1d2"), std::string::npos) << e.message;
}

TEST_F(IbmCloudProviderTest, ThrottlingAndServerErrorsAreRetriedWithBackoff) {
  h.vpc.failures().add("GET /v1/instance/profiles/", {503, "service_unavailable", "Busy", ""});
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  h.vpc.failures().add("POST /v1/instances", {429, "too_many_requests", "Slow down", "3"}, 2);
  h.vpc.failures().add("POST /v3/tags/attach", {502, "bad_gateway", "Bad gateway", ""});
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_EQ(h.vpc.createsApplied(), 1);
  EXPECT_EQ(h.vpc.calls("POST /v1/instances").size(), 3u);
  std::lock_guard lock(h.mu);
  EXPECT_GE(h.sleeps.size(), 4u);
  EXPECT_EQ(std::count(h.sleeps.begin(), h.sleeps.end(), std::chrono::milliseconds(3000)), 2);
}

TEST_F(IbmCloudProviderTest, PersistentThrottlingFailsAndLeavesNothing) {
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  h.vpc.failures().add("POST /v1/instances", {429, "too_many_requests", "Slow down", ""}, 100);
  Error e = failedCreate(*p);
  EXPECT_EQ(e.code, Code::kResourceExhausted);
  EXPECT_NE(e.message.find("too_many_requests"), std::string::npos) << e.message;
}

// Failure injection at every step of a create: nothing is left behind.
TEST_F(IbmCloudProviderTest, LostCreateAnswerIsFoundByNameAndDeleted) {
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  h.vpc.failCreateAfterApplying(503, 100);
  Error e = failedCreate(*p);
  EXPECT_EQ(h.vpc.createsApplied(), 1);
  EXPECT_EQ(h.vpc.deletesApplied(), 1);
  EXPECT_NE(e.message.find("validation_unique_failed"), std::string::npos) << e.message;
}

TEST_F(IbmCloudProviderTest, FailedGetWhileWaitingForIpsDeletesTheInstance) {
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  h.vpc.setIpDelay(3);
  h.vpc.failures().add("GET /v1/instances/0717_", {403, "forbidden", "Not allowed to read", ""});
  Error e = failedCreate(*p);
  EXPECT_EQ(e.code, Code::kPermissionDenied);
  EXPECT_NE(e.message.find("Not allowed to read"), std::string::npos) << e.message;
  EXPECT_EQ(h.vpc.deletesApplied(), 1);
}

TEST_F(IbmCloudProviderTest, NicsWithoutAddressesFailTheCreateBoundedAndDeleteIt) {
  auto c = h.baseConfig();
  c.ipWaitTimeout = std::chrono::seconds(20);
  auto p = h.make(c);
  ASSERT_TRUE(p);
  h.vpc.setIpDelay(-1);
  Error e = failedCreate(*p);
  EXPECT_EQ(e.code, Code::kDeadlineExceeded);
  EXPECT_NE(e.message.find("-ip-wait-timeout"), std::string::npos) << e.message;
  EXPECT_EQ(h.vpc.deletesApplied(), 1);
  // 20 s at 2 s a poll: 11 GETs, not forever.
  EXPECT_EQ(h.vpc.calls("GET /v1/instances/0717_").size(), 11u);
}

TEST_F(IbmCloudProviderTest, AddressesThatComeLateAreWaitedFor) {
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  h.vpc.setIpDelay(4);
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_EQ(inst->ips.size(), 1u);
  EXPECT_NE(inst->ips[0], "0.0.0.0");
  EXPECT_EQ(h.vpc.calls("GET /v1/instances/0717_").size(), 5u);
}

TEST_F(IbmCloudProviderTest, FailedTaggingDeletesTheInstance) {
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  h.vpc.failures().add("POST /v3/tags/attach", {403, "forbidden", "No tagging permission", ""});
  Error e = failedCreate(*p);
  EXPECT_EQ(e.code, Code::kPermissionDenied);
  EXPECT_NE(e.message.find("No tagging permission"), std::string::npos) << e.message;
  EXPECT_EQ(h.vpc.deletesApplied(), 1);
  // A 200 answer reporting is_error for the resource is a failure too.
  h.vpc.failNextAttachInResult();
  e = failedCreate(*p);
  EXPECT_NE(e.message.find("tag_attach_failed"), std::string::npos) << e.message;
  EXPECT_EQ(h.vpc.deletesApplied(), 2);
}

TEST_F(IbmCloudProviderTest, CleanupFailureIsReported) {
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  h.vpc.failures().add("POST /v3/tags/attach", {400, "bad_request", "nope", ""});
  h.vpc.failures().add("DELETE /v1/instances/", {403, "forbidden", "Cannot delete", ""});
  auto inst = p->createInstance(request());
  ASSERT_FALSE(inst);
  EXPECT_NE(inst.error().message.find("Cannot delete"), std::string::npos) << inst.error().message;
  EXPECT_EQ(h.vpc.instances().size(), 1u);  // what could not be deleted is said, not hidden
}

TEST_F(IbmCloudProviderTest, BadInputIsRefusedBeforeAnyCall) {
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  auto r = request();
  r.userData.assign(kMaxUserDataBytes + 1, 'x');
  Error e = failedCreate(*p, r);
  EXPECT_EQ(e.code, Code::kInvalidArgument);
  EXPECT_TRUE(h.vpc.calls("POST /v1/instances").empty());
  auto st = p->deleteInstance("../../v1/vpcs");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Code::kInvalidArgument);
}

TEST_F(IbmCloudProviderTest, DeleteOfAGoneInstanceSucceedsAndA401RefreshesTheToken) {
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst);
  h.iam.revokeAll();  // the cached token is now refused
  ASSERT_TRUE(p->deleteInstance(inst->id));
  EXPECT_EQ(h.iam.tokensIssued(), 2);
  EXPECT_TRUE(h.vpc.instances().empty());
  ASSERT_TRUE(p->deleteInstance(inst->id));  // 404: success
  h.vpc.failures().add("DELETE /v1/instances/", {409, "instance_in_use", "Busy", ""});
  auto st = p->deleteInstance("0717_other");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("instance_in_use"), std::string::npos);
}

TEST_F(IbmCloudProviderTest, ListsPodVmsByTheirSandboxTagAcrossPages) {
  h.vpc.setPageSize(1);
  h.vpc.addInstance("unrelated-vm", {"owner:someone"});
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  auto a = p->createInstance(request("aaaa000011112222"));
  auto b = p->createInstance(request("bbbb000011112222"));
  ASSERT_TRUE(a && b);
  auto all = p->listInstances("");
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all->size(), 2u);
  auto one = p->listInstances("aaaa000011112222");
  ASSERT_TRUE(one);
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].id, a->id);
  EXPECT_EQ((*one)[0].ips, a->ips);
}

TEST_F(IbmCloudProviderTest, StartUpSettingsAreCheckedWithClearErrors) {
  auto c = h.baseConfig();
  c.apiKey = "";
  auto p = IbmCloudProvider::create(c, h.deps());
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("-api-key"), std::string::npos) << p.error().message;
  c = h.baseConfig();
  c.imageIds = {};
  p = IbmCloudProvider::create(c, h.deps());
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("-image-id"), std::string::npos);
  c = h.baseConfig();
  c.imageIds = {"r022-nowhere"};
  p = IbmCloudProvider::create(c, h.deps());
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("none of the images"), std::string::npos);
  c = h.baseConfig();
  c.profileName = "no-such-profile";
  p = IbmCloudProvider::create(c, h.deps());
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("instance_profile_not_found"), std::string::npos)
      << p.error().message;
  c = h.baseConfig();
  c.apiKey = "wrong-key";
  p = IbmCloudProvider::create(c, h.deps());
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("BXNIM0415E"), std::string::npos) << p.error().message;
  EXPECT_EQ(p.error().message.find("wrong-key"), std::string::npos);
  c = h.baseConfig();
  c.zoneName = "";
  p = IbmCloudProvider::create(c, h.deps());
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("-zone-name"), std::string::npos);
}

TEST_F(IbmCloudProviderTest, TrustedProfileCredentials) {
  h.iam.addTrustedProfile("Profile-abc", "sa-token-1");
  auto dir = std::filesystem::temp_directory_path() / ("ibm-prov-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "vault-token") << "sa-token-1";
  auto c = h.baseConfig();
  c.apiKey = "";
  c.iamProfileId = "Profile-abc";
  c.crTokenFile = (dir / "vault-token").string();
  auto p = h.make(c);
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->createInstance(request()));
  EXPECT_EQ(h.iam.calls().back().form.at("grant_type"), kCrTokenGrant);
  std::filesystem::remove_all(dir);
}

struct KubeFixture {
  std::unique_ptr<fakes::FakeKubeApi> api = fakes::FakeKubeApi::start();
  std::shared_ptr<k8s::Client> client = std::make_shared<k8s::Client>(api->clientConfig());
};

TEST_F(IbmCloudProviderTest, ClusterIdFromTheClusterInfoConfigMap) {
  KubeFixture k;
  auto c = h.baseConfig();
  c.clusterId = "";
  auto d = h.deps({});
  d.kube = k.client;
  auto missing = IbmCloudProvider::create(c, d);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("kube-system/cluster-info"), std::string::npos);
  k.api->seed("configmaps", {{"apiVersion", "v1"},
                             {"kind", "ConfigMap"},
                             {"metadata", {{"name", "cluster-info"}, {"namespace", "kube-system"}}},
                             {"data", {{"other", "x"}}}});
  auto noKey = IbmCloudProvider::create(c, d);
  ASSERT_FALSE(noKey);
  EXPECT_NE(noKey.error().message.find("cluster_id"), std::string::npos);
  k.api->seed("configmaps", {{"apiVersion", "v1"},
                             {"kind", "ConfigMap"},
                             {"metadata", {{"name", "cluster-info"}, {"namespace", "kube-system"}}},
                             {"data", {{"cluster_id", "iks-cluster-42"}}}});
  auto p = IbmCloudProvider::create(c, d);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ((*p)->config().clusterId, "iks-cluster-42");
  ASSERT_TRUE((*p)->createInstance(request()));
  EXPECT_EQ(h.vpc.tagsOf(h.vpc.instances().begin()->second.crn)[0], "coco-pod-vm:iks-cluster-42");
}

TEST_F(IbmCloudProviderTest, IksNodeLabelsFillTheVpcSettings) {
  KubeFixture k;
  k.api->seed("nodes", {{"apiVersion", "v1"},
                        {"kind", "Node"},
                        {"metadata",
                         {{"name", "iks-worker-1"},
                          {"labels",
                           {{"topology.kubernetes.io/region", "jp-tok"},
                            {"topology.kubernetes.io/zone", h.vpc.zone()},
                            {"ibm-provider.kubernetes.io/subnet-id", testing::kSubnet}}}}}});
  auto c = h.baseConfig();
  c.zoneName = c.vpcId = c.primarySubnetId = c.primarySecurityGroupId = c.resourceGroupId = "";
  auto d = h.deps({{"NODE_NAME", "iks-worker-1"}});
  d.kube = k.client;
  auto p = IbmCloudProvider::create(c, d);
  ASSERT_TRUE(p) << p.error().message;
  const auto& got = (*p)->config();
  EXPECT_EQ(got.zoneName, h.vpc.zone());
  EXPECT_EQ(got.vpcId, h.vpc.vpcId());
  EXPECT_EQ(got.primarySubnetId, testing::kSubnet);
  EXPECT_EQ(got.resourceGroupId, "rg-from-subnet");
  EXPECT_EQ(got.primarySecurityGroupId, "r022-sg-default");
  // The region label does not replace a set VPC URL (upstream's default is set).
  EXPECT_EQ(got.vpcServiceUrl, h.vpc.vpcUrl());
  ASSERT_TRUE((*p)->createInstance(request()));
}

TEST_F(IbmCloudProviderTest, RegionLabelGivesTheVpcUrlOnlyWhenItIsEmpty) {
  KubeFixture k;
  k.api->seed(
      "nodes",
      {{"apiVersion", "v1"},
       {"kind", "Node"},
       {"metadata", {{"name", "w2"}, {"labels", {{"topology.kubernetes.io/region", "eu-de"}}}}}});
  auto c = h.baseConfig();
  c.vpcServiceUrl = "";
  auto d = h.deps({{"NODE_NAME", "w2"}});
  d.kube = k.client;
  d.http = net::HttpClient();
  // The real regional endpoint is not reachable from tests: the profile lookup names it.
  d.sleep = [](std::chrono::milliseconds) {};
  providers::testing::LogCapture log;
  auto p = IbmCloudProvider::create(c, d);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("instance profile bx2-2x8"), std::string::npos)
      << p.error().message;
  EXPECT_NE(log.text().find("VPC URL https://eu-de.iaas.cloud.ibm.com/v1 from node w2"),
            std::string::npos)
      << log.text();
  // Without the label: a clear error.
  auto d2 = h.deps({});
  c.vpcServiceUrl = "";
  auto q = IbmCloudProvider::create(c, d2);
  ASSERT_FALSE(q);
  EXPECT_NE(q.error().message.find("-vpc-service-url"), std::string::npos) << q.error().message;
}

TEST_F(IbmCloudProviderTest, VerifyConfigChecksImagesProfileAndSubnet) {
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->verifyConfig());
  h.vpc.failures().add("GET /v1/subnets/", {404, "subnet_not_found", "Subnet not found.", ""});
  auto st = p->verifyConfig();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("-primary-subnet-id"), std::string::npos);
}

TEST(IbmUserTag, KeepsWhatIbmTagsAllow) {
  EXPECT_EQ(userTag("io.peerpods.pod-name", "Web_1"), "io.peerpods.pod-name:web_1");
  EXPECT_EQ(userTag("k", "a/b=c"), "k:a-b-c");
  EXPECT_EQ(userTag("k", std::string(300, 'x')).size(), 128u);
}

// peerpod-ctrl builds providers from peer-pods-cm / peer-pods-secret through the registry
// (env only, no command line) and deletes the instances of leaked PeerPods.
TEST_F(IbmCloudProviderTest, PeerpodCtrlBuildsFromEnvAndDeletes) {
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst);
  auto env = flags::mapEnv({{"IBMCLOUD_API_KEY", testing::FakeIam::kDefaultApiKey},
                            {"IBMCLOUD_IAM_ENDPOINT", h.iam.tokenUrl()},
                            {"IBMCLOUD_VPC_ENDPOINT", h.vpc.vpcUrl()},
                            {"IBMCLOUD_TAGGING_ENDPOINT", h.vpc.taggingUrl()},
                            {"IBMCLOUD_ZONE", h.vpc.zone()},
                            {"IBMCLOUD_VPC_ID", h.vpc.vpcId()},
                            {"IBMCLOUD_VPC_SUBNET_ID", testing::kSubnet},
                            {"IBMCLOUD_VPC_SG_ID", testing::kSg},
                            {"IBMCLOUD_CLUSTER_ID", testing::kClusterId},
                            {"IBMCLOUD_PODVM_INSTANCE_PROFILE_NAME", "bx2-2x8"},
                            {"IBMCLOUD_PODVM_IMAGE_ID", testing::kImageAmd64}});
  auto setup = lookupProvider("ibmcloud", registry(), env);
  ASSERT_TRUE(setup) << setup.error().message;
  flags::FlagSet fs("ibmcloud", env);
  (*setup)->registerFlags(fs);
  ASSERT_TRUE(fs.validate());
  auto ctrl = (*setup)->build();
  ASSERT_TRUE(ctrl) << ctrl.error().message;
  ASSERT_TRUE((*ctrl)->deleteInstance(inst->id));
  EXPECT_TRUE(h.vpc.instances().empty());
}

}  // namespace
}  // namespace pp::providers::ibmcloud

namespace pp::providers::ibmcloud {
namespace {

// Every flag of upstream's ibmcloud provider, with its variable and default, is in -help.
TEST(IbmCloudFlags, UpstreamsFlagsEnvAndDefaults) {
  struct Want {
    const char *flag, *env, *def;
  };
  const Want want[] = {
      {"api-key", "IBMCLOUD_API_KEY", ""},
      {"iam-profile-id", "IBMCLOUD_IAM_PROFILE_ID", ""},
      {"iam-service-url", "IBMCLOUD_IAM_ENDPOINT", "https://iam.cloud.ibm.com/identity/token"},
      {"vpc-service-url", "IBMCLOUD_VPC_ENDPOINT", "https://jp-tok.iaas.cloud.ibm.com/v1"},
      {"resource-group-id", "IBMCLOUD_RESOURCE_GROUP_ID", ""},
      {"profile-name", "IBMCLOUD_PODVM_INSTANCE_PROFILE_NAME", ""},
      {"zone-name", "IBMCLOUD_ZONE", ""},
      {"primary-subnet-id", "IBMCLOUD_VPC_SUBNET_ID", ""},
      {"primary-security-group-id", "IBMCLOUD_VPC_SG_ID", ""},
      {"key-id", "IBMCLOUD_SSH_KEY_ID", ""},
      {"vpc-id", "IBMCLOUD_VPC_ID", ""},
      {"cluster-id", "IBMCLOUD_CLUSTER_ID", ""},
      {"disable-cvm", "DISABLECVM", "false"},
      {"cr-token-filename", "", "/var/run/secrets/tokens/vault-token"},
      {"secondary-subnet-id", "", ""},
      {"secondary-security-group-id", "", ""},
      {"profile-list", "IBMCLOUD_PODVM_INSTANCE_PROFILE_LIST", ""},
      {"image-id", "IBMCLOUD_PODVM_IMAGE_ID", ""},
      {"tags", "IBMCLOUD_TAGS", ""},
  };
  IbmCloudConfig c;
  flags::FlagSet fs("ibmcloud", flags::mapEnv({}));
  registerIbmCloudFlags(fs, c);
  std::string help = fs.helpText();
  for (const auto& w : want) {
    const flags::Flag* f = fs.lookup(w.flag);
    ASSERT_NE(f, nullptr) << w.flag;
    EXPECT_EQ(f->env(), w.env) << w.flag;
    std::string line = std::string("  -") + w.flag;
    auto at = help.find(line);
    ASSERT_NE(at, std::string::npos) << w.flag;
    EXPECT_TRUE(help[at + line.size()] == ' ' || help[at + line.size()] == '\n') << w.flag;
  }
  EXPECT_EQ(c.iamServiceUrl, "https://iam.cloud.ibm.com/identity/token");
  EXPECT_EQ(c.vpcServiceUrl, "https://jp-tok.iaas.cloud.ibm.com/v1");
  EXPECT_EQ(c.crTokenFile, "/var/run/secrets/tokens/vault-token");
  EXPECT_FALSE(c.disableCvm);
  EXPECT_TRUE(fs.lookup("api-key")->isSecret());
  // Lists from the environment, comma separated.
  IbmCloudConfig e;
  flags::FlagSet fe("ibmcloud", flags::mapEnv({{"IBMCLOUD_PODVM_IMAGE_ID", "img-a, img-b"},
                                               {"IBMCLOUD_TAGS", "a:b,c:d"}}));
  registerIbmCloudFlags(fe, e);
  EXPECT_EQ(e.imageIds, (std::vector<std::string>{"img-a", "img-b"}));
  EXPECT_EQ(e.tags, (std::vector<std::string>{"a:b", "c:d"}));
}

}  // namespace
}  // namespace pp::providers::ibmcloud
