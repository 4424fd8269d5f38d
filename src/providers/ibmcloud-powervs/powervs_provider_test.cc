// Tests of the ibmcloud-powervs provider against the fake IAM and PowerVS endpoints: flags,
// account lookup and CRN, the PVMInstanceCreate body, sizing, ACTIVE waits, fixed and DHCP
// addresses, error mapping, retries, failure injection at every step of a create (nothing is
// left behind), listing by name, and peerpod-ctrl's env-only delete.
#include "providers/ibmcloud-powervs/powervs_provider.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "adaptor/testing/lifecycle.h"
#include "base/encoding.h"
#include "peerpod_ctrl/controller.h"
#include "providers/ibmcloud-powervs/powervs_test_harness.h"
#include "providers/registry.h"
#include "providers/testing/provider_contract.h"

namespace pp::providers::powervs {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using ibmcloud::testing::FakeIam;
using testing::kAccountId;
using testing::kImageId;
using testing::kNetworkId;
using testing::kWorkspaceId;
using testing::kZone;

class PowerVsTest : public ::testing::Test, protected testing::PowerVsHarness {
 protected:
  CreateRequest request(const std::string& name = "podvm-nginx-0123abcd") {
    CreateRequest r;
    r.podName = "nginx";
    r.podNamespace = "default";
    r.sandboxId = "0123abcd" + std::string(56, 'e');
    r.instanceName = name;
    r.userData = "#cloud-config\nwrite_files: []\n";
    return r;
  }
  void expectNoProblems() {
    auto p = allProblems();
    EXPECT_TRUE(p.empty()) << p[0];
  }
  void expectNothingLeft() { EXPECT_TRUE(fake.instances().empty()); }
};

TEST_F(PowerVsTest, FlagsAndEnvironmentAsUpstream) {
  PowerVsConfig c;
  flags::FlagSet fs("ibmcloud-powervs", flags::mapEnv({{"IBMCLOUD_API_KEY", "k"},
                                                       {"POWERVS_ZONE", "eu-de-1"},
                                                       {"POWERVS_SERVICE_INSTANCE_ID", "ws"},
                                                       {"POWERVS_NETWORK_ID", "net"},
                                                       {"POWERVS_IMAGE_ID", "img"},
                                                       {"POWERVS_SSH_KEY_NAME", "key"},
                                                       {"POWERVS_MEMORY", "4"},
                                                       {"POWERVS_PROCESSORS", "1.5"},
                                                       {"USE_PUBLIC_IP", "true"},
                                                       {"POWERVS_BUILD_TIMEOUT", "20m"}}));
  registerPowerVsFlags(fs, c);
  EXPECT_EQ(c.apiKey, "k");
  EXPECT_EQ(c.zone, "eu-de-1");
  EXPECT_EQ(c.serviceInstanceId, "ws");
  EXPECT_EQ(c.networkId, "net");
  EXPECT_EQ(c.imageId, "img");
  EXPECT_EQ(c.sshKey, "key");
  EXPECT_EQ(c.processorType, "shared");
  EXPECT_EQ(c.systemType, "s922");
  EXPECT_EQ(c.memoryGb, 4);
  EXPECT_EQ(c.processors, 1.5);
  EXPECT_TRUE(c.usePublicIp);
  EXPECT_EQ(c.buildTimeout, 20min);
  struct Want {
    const char* flag;
    const char* env;
  };
  for (auto w :
       {Want{"api-key", "IBMCLOUD_API_KEY"}, Want{"zone", "POWERVS_ZONE"},
        Want{"service-instance-id", "POWERVS_SERVICE_INSTANCE_ID"},
        Want{"network-id", "POWERVS_NETWORK_ID"}, Want{"image-id", "POWERVS_IMAGE_ID"},
        Want{"ssh-key", "POWERVS_SSH_KEY_NAME"}, Want{"proc-type", "POWERVS_PROCESSOR_TYPE"},
        Want{"sys-type", "POWERVS_SYSTEM_TYPE"}, Want{"memory", "POWERVS_MEMORY"},
        Want{"cpu", "POWERVS_PROCESSORS"}, Want{"use-public-ip", "USE_PUBLIC_IP"},
        Want{"build-timeout", "POWERVS_BUILD_TIMEOUT"}}) {
    auto* f = fs.lookup(w.flag);
    ASSERT_NE(f, nullptr) << w.flag;
    EXPECT_EQ(f->env(), w.env) << w.flag;
  }
  EXPECT_TRUE(fs.lookup("api-key")->isSecret());
  auto parsed = fs.parse({"-proc-type", "dedicated", "-cpu=2", "-sys-type", "e980"});
  ASSERT_TRUE(parsed);
  EXPECT_EQ(c.processorType, "dedicated");
  EXPECT_EQ(c.processors, 2);
  EXPECT_EQ(c.systemType, "e980");

  PowerVsConfig d;
  flags::FlagSet defaults("ibmcloud-powervs", flags::mapEnv({}));
  registerPowerVsFlags(defaults, d);
  EXPECT_EQ(d.memoryGb, 2);
  EXPECT_EQ(d.processors, 0.5);
  EXPECT_EQ(d.buildTimeout, 8min);
  EXPECT_EQ(d.iamUrl, "https://iam.cloud.ibm.com");
}

// power-go-client's endpoint variable is honoured as an alias of ours.
TEST_F(PowerVsTest, EndpointFromPowerGoClientsVariable) {
  PowerVsConfig c;
  flags::FlagSet fs(
      "ibmcloud-powervs",
      flags::mapEnv({{"IBMCLOUD_POWER_API_ENDPOINT", "private.dal.power-iaas.test"}}));
  registerPowerVsFlags(fs, c);
  EXPECT_EQ(normalizeEndpoint(c.endpoint), "https://private.dal.power-iaas.test");
}

TEST(PowerVsEndpoints, RegionAndCrnAsPowerGoClient) {
  EXPECT_EQ(regionFromZone("dal12"), "dal");
  EXPECT_EQ(regionFromZone("lon04"), "lon");
  EXPECT_EQ(regionFromZone("eu-de-1"), "eu-de");
  EXPECT_EQ(regionFromZone("us-south"), "us-south");
  EXPECT_EQ(regionFromZone("us-east"), "us-east");
  EXPECT_EQ(regionFromZone("mad02"), "mad");
  EXPECT_EQ(defaultEndpoint("syd05"), "https://syd.power-iaas.cloud.ibm.com");
  EXPECT_EQ(workspaceCrn("dal12", "acc", "ws-1"),
            "crn:v1:bluemix:public:power-iaas:dal12:a/acc:ws-1::");
  EXPECT_EQ(normalizeEndpoint("http://127.0.0.1:80/"), "http://127.0.0.1:80");
}

TEST_F(PowerVsTest, CreateAndDelete) {
  auto p = make();
  ASSERT_TRUE(p);
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  expectNoProblems();
  auto stored = fake.instances();
  ASSERT_EQ(stored.size(), 1u);
  const auto& fi = stored.begin()->second;
  EXPECT_EQ(inst->id, fi.id);
  EXPECT_EQ(inst->name, "podvm-nginx-0123abcd");
  EXPECT_EQ(inst->ips, std::vector<std::string>{fi.ip});

  // The body as upstream sends it.
  const json& b = fi.create;
  EXPECT_EQ(b["serverName"], "podvm-nginx-0123abcd");
  EXPECT_EQ(b["imageID"], kImageId);
  EXPECT_EQ(b["keyPairName"], "peerpods-key");
  EXPECT_EQ(b["networks"], json::array({{{"networkID", kNetworkId}}}));
  EXPECT_EQ(b["memory"], 2.0);
  EXPECT_EQ(b["processors"], 0.5);
  EXPECT_EQ(b["procType"], "shared");
  EXPECT_EQ(b["sysType"], "s922");
  EXPECT_EQ(encoding::base64Decode(b["userData"].get<std::string>()).value_or(""),
            request().userData);

  // Every call carried a valid IAM token and the workspace CRN; the account came from the
  // IAM Identity API with the API key.
  auto calls = fake.calls();
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.front().path, "/v1/apikeys/details");
  for (const auto& c : calls) {
    EXPECT_TRUE(c.tokenValid) << c.method << " " << c.path;
    if (c.path != "/v1/apikeys/details") {
      EXPECT_EQ(c.crn, fake.crn());
    }
  }
  EXPECT_EQ(fake.calls("POST /pvm-instances").size(), 1u);
  // BUILD twice, then ACTIVE, then the address read.
  EXPECT_GE(fake.calls("GET /pvm-instances/").size(), 3u);
  EXPECT_EQ(iam.tokensIssued(), 1);

  ASSERT_TRUE(p->deleteInstance(inst->id));
  expectNothingLeft();
  EXPECT_TRUE(p->deleteInstance(inst->id)) << "a gone instance is deleted";
}

TEST_F(PowerVsTest, NoSshKeyMeansNoKeyPairName) {
  auto c = baseConfig();
  c.sshKey.clear();
  auto p = make(c);
  auto body = p->instanceBody(request());
  ASSERT_TRUE(body);
  EXPECT_FALSE(body->contains("keyPairName"));
}

TEST_F(PowerVsTest, AccountIdCanBeGivenInsteadOfLookedUp) {
  auto c = baseConfig();
  c.accountId = kAccountId;
  auto p = make(c);
  ASSERT_TRUE(p);
  EXPECT_TRUE(fake.calls("/v1/apikeys/details").empty());
  ASSERT_TRUE(p->createInstance(request()));
  expectNoProblems();
}

TEST_F(PowerVsTest, BadApiKeyIsAClearError) {
  auto c = baseConfig();
  c.apiKey = "wrong-key";
  auto p = PowerVsProvider::create(c, deps());
  ASSERT_FALSE(p);
  EXPECT_EQ(fake.creates(), 0);
}

TEST_F(PowerVsTest, ConfigurationErrorsNameTheFlag) {
  struct Case {
    void (*edit)(PowerVsConfig&);
    const char* needle;
  };
  for (auto k :
       {Case{[](PowerVsConfig& c) { c.zone.clear(); }, "-zone (POWERVS_ZONE)"},
        Case{[](PowerVsConfig& c) { c.serviceInstanceId.clear(); }, "POWERVS_SERVICE_INSTANCE_ID"},
        Case{[](PowerVsConfig& c) { c.apiKey.clear(); }, "IBMCLOUD_API_KEY"},
        Case{[](PowerVsConfig& c) { c.processorType = "turbo"; }, "-proc-type"},
        Case{[](PowerVsConfig& c) { c.processors = 0; }, "-cpu"},
        Case{[](PowerVsConfig& c) { c.memoryGb = -1; }, "-memory"},
        Case{[](PowerVsConfig& c) { c.buildTimeout = 0s; }, "-build-timeout"}}) {
    auto c = baseConfig();
    k.edit(c);
    auto p = PowerVsProvider::create(c, deps());
    ASSERT_FALSE(p) << k.needle;
    EXPECT_EQ(p.error().code, Code::kInvalidArgument);
    EXPECT_NE(p.error().message.find(k.needle), std::string::npos) << p.error().message;
  }
  auto c = baseConfig();
  c.imageId.clear();
  auto p = make(c);
  auto r = p->createInstance(request());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("POWERVS_IMAGE_ID"), std::string::npos);
  EXPECT_FALSE(p->verifyConfig());
}

TEST_F(PowerVsTest, VerifyConfigChecksImageAndNetwork) {
  auto p = make();
  EXPECT_TRUE(p->verifyConfig());
  auto c = baseConfig();
  c.networkId = "no-such-network";
  auto bad = make(c);
  auto st = bad->verifyConfig();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Code::kNotFound);
  EXPECT_NE(st.error().message.find("network does not exist"), std::string::npos);
}

TEST_F(PowerVsTest, LongNamesAreCutTo47KeepingTheSandboxPrefix) {
  std::string longName = "podvm-" + std::string(50, 'a') + "-0123abcd";
  EXPECT_EQ(serverName(longName).size(), 47u);
  EXPECT_EQ(serverName(longName).substr(47 - 9), "-0123abcd");
  EXPECT_EQ(serverName("podvm-short-0123abcd"), "podvm-short-0123abcd");
  auto p = make();
  auto inst = p->createInstance(request(longName));
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_EQ(inst->name, serverName(longName));
  expectNoProblems();
  auto listed = p->listInstances(request().sandboxId);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().id, inst->id);
}

TEST(PowerVsNames, SandboxMatching) {
  EXPECT_TRUE(nameMatchesSandbox("podvm-web-0123abcd", "0123abcdef99"));
  EXPECT_TRUE(nameMatchesSandbox("podvm-web-0123abcd", ""));
  EXPECT_FALSE(nameMatchesSandbox("podvm-web-0123abcd", "0123abce"));
  EXPECT_FALSE(nameMatchesSandbox("podvm-web", ""));
  EXPECT_FALSE(nameMatchesSandbox("other-web-0123abcd", ""));
  EXPECT_TRUE(nameMatchesSandbox("podvm-web-0123abcd", "0123ABCDEF"));
}

TEST_F(PowerVsTest, SizingFromAnnotationsAsUpstream) {
  auto c = baseConfig();
  InstanceSpec s;
  auto size = sizeFor(s, c);
  ASSERT_TRUE(size);
  EXPECT_EQ(size->systemType, "s922");
  EXPECT_EQ(size->processors, 0.5);
  EXPECT_EQ(size->memoryGb, 2);

  s.instanceType = "e980-2x8";
  size = sizeFor(s, c);
  ASSERT_TRUE(size);
  EXPECT_EQ(size->systemType, "e980");
  EXPECT_EQ(size->processors, 2);
  EXPECT_EQ(size->memoryGb, 8);

  // vCPUs and memory together win over the machine type; memory in whole GB, rounded up.
  s.vcpus = 3;
  s.memoryMiB = 6000;
  size = sizeFor(s, c);
  ASSERT_TRUE(size);
  EXPECT_EQ(size->systemType, "s922");
  EXPECT_EQ(size->processors, 3);
  EXPECT_EQ(size->memoryGb, 6);

  // One of them alone falls through (upstream's rule).
  s.memoryMiB = 0;
  size = sizeFor(s, c);
  ASSERT_TRUE(size);
  EXPECT_EQ(size->systemType, "e980");

  for (const char* bad : {"s922", "s922-", "s922-2", "s922-x4", "s922-2x", "s922-ax4", "-2x4",
                          "s9 22-2x4", "s922-2x4-1", "s922-0x4"}) {
    InstanceSpec b;
    b.instanceType = bad;
    auto r = sizeFor(b, c);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_NE(r.error().message.find("machine_type"), std::string::npos);
  }

  auto p = make();
  auto req = request();
  req.spec.instanceType = "s1022-1x4";
  auto inst = p->createInstance(req);
  ASSERT_TRUE(inst) << inst.error().message;
  const json b = fake.instances().at(inst->id).create;
  EXPECT_EQ(b["sysType"], "s1022");
  EXPECT_EQ(b["processors"], 1.0);
  EXPECT_EQ(b["memory"], 4.0);
  expectNoProblems();
}

TEST_F(PowerVsTest, ImageAnnotationOverrides) {
  auto c = baseConfig();
  c.imageId = "configured-image";
  auto p = make(c);
  auto req = request();
  req.spec.image = kImageId;
  auto inst = p->createInstance(req);
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_EQ(fake.instances().at(inst->id).create["imageID"], kImageId);
}

TEST_F(PowerVsTest, PublicIpOfTheFixedNetwork) {
  auto c = baseConfig();
  c.usePublicIp = true;
  auto p = make(c);
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_EQ(inst->ips, std::vector<std::string>{fake.instances().at(inst->id).externalIp});
}

TEST_F(PowerVsTest, AddressFromTheDhcpLeaseMatchedByMac) {
  fake.setDhcpNetwork(true, 2);
  auto p = make();
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  expectNoProblems();
  EXPECT_EQ(inst->ips, std::vector<std::string>{fake.instances().at(inst->id).ip});
  EXPECT_EQ(fake.calls("GET /services/dhcp/").size(), 3u);
  // The waits between polls are capped at 10 s.
  for (auto d : sleeps) EXPECT_LE(d, 10s);
}

TEST_F(PowerVsTest, NoAddressIsBoundedAndCleansUp) {
  fake.setDhcpNetwork(true);
  fake.setNoAddresses(true);
  auto c = baseConfig();
  c.ipTimeout = 50ms;
  auto p = make(c);
  auto inst = p->createInstance(request());
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().code, Code::kDeadlineExceeded);
  EXPECT_NE(inst.error().message.find("-powervs-ip-timeout"), std::string::npos);
  expectNothingLeft();
  EXPECT_EQ(fake.deletes(), 1);
}

TEST_F(PowerVsTest, ErrorStateFailsAtOnceAndCleansUp) {
  fake.failNextBuild("No valid host was found");
  auto p = make();
  auto inst = p->createInstance(request());
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().code, Code::kAborted);
  EXPECT_NE(inst.error().message.find("ERROR state: No valid host was found"), std::string::npos)
      << inst.error().message;
  expectNothingLeft();
  expectNoProblems();
}

TEST_F(PowerVsTest, BuildTimeoutIsConfigurableAndCleansUp) {
  fake.setNeverActive(true);
  auto c = baseConfig();
  c.buildTimeout = 30ms;
  auto p = make(c);
  auto inst = p->createInstance(request());
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().code, Code::kDeadlineExceeded);
  EXPECT_NE(inst.error().message.find("still BUILD"), std::string::npos) << inst.error().message;
  EXPECT_NE(inst.error().message.find("POWERVS_BUILD_TIMEOUT"), std::string::npos);
  expectNothingLeft();
  // Poll waits grow and stay at most 5 s.
  for (auto d : sleeps) EXPECT_LE(d, 5s);
}

// A delete refused with 409 while the instance is busy is retried.
TEST_F(PowerVsTest, CleanupRetriesABusyDelete) {
  fake.failNextBuild("boot failure");
  fake.failNext("DELETE /pvm-instances/", 409, "conflict", "instance is busy", 2);
  auto p = make();
  auto inst = p->createInstance(request());
  ASSERT_FALSE(inst);
  expectNothingLeft();
  EXPECT_EQ(fake.calls("DELETE /pvm-instances/").size(), 3u);
}

TEST_F(PowerVsTest, CloudErrorBodyReachesTheMessage) {
  fake.failNext("POST /pvm-instances", 400, "bad request",
                "processors value 0.5 is not allowed for dedicated procType");
  auto p = make();
  auto inst = p->createInstance(request());
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().code, Code::kInvalidArgument);
  EXPECT_NE(inst.error().message.find("HTTP 400 bad request"), std::string::npos);
  EXPECT_NE(inst.error().message.find("not allowed for dedicated procType"), std::string::npos)
      << inst.error().message;
  EXPECT_EQ(fake.calls("POST /pvm-instances").size(), 1u) << "a refusal is not retried";
  expectNothingLeft();

  fake.failNext("POST /pvm-instances", 403, "forbidden", "user is not authorized");
  auto denied = p->createInstance(request());
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, Code::kPermissionDenied);
}

TEST_F(PowerVsTest, ThrottlingAnd5xxAreRetriedWithBackoff) {
  fake.failNext("POST /pvm-instances", 429, "too many requests", "rate limited", 2, "3");
  fake.failNext("GET /pvm-instances/", 503, "service unavailable", "try later", 1);
  fake.failNext("GET /services/dhcp", 500, "internal server error", "oops", 1);
  fake.setDhcpNetwork(true);
  auto p = make();
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_EQ(fake.creates(), 1);
  EXPECT_EQ(fake.instances().size(), 1u);
  // Retry-After: 3 was honoured for the throttled creates.
  ASSERT_GE(sleeps.size(), 2u);
  EXPECT_EQ(sleeps[0], 3s);
  EXPECT_EQ(sleeps[1], 3s);
  expectNoProblems();
}

// The create's answer is lost after the instance was made: the retry finds it by name instead
// of making a second one.
TEST_F(PowerVsTest, LostCreateAnswerAdoptsTheInstanceInsteadOfPostingAgain) {
  fake.loseNextCreateAnswer();
  auto p = make();
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_EQ(fake.creates(), 1);
  EXPECT_EQ(fake.calls("POST /pvm-instances").size(), 1u);
  EXPECT_EQ(fake.instances().size(), 1u);
  EXPECT_TRUE(p->deleteInstance(inst->id));
}

// The create's answer is lost and the instance cannot be looked up either: the error says so,
// and the instance is found by the orphan sweep's listing once the API answers again.
TEST_F(PowerVsTest, LostCreateAnswerWithoutListingIsReportedAndListedLater) {
  fake.loseNextCreateAnswer();
  fake.setListFails(true);
  auto p = make();
  auto inst = p->createInstance(request());
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().code, Code::kUnavailable);
  EXPECT_NE(inst.error().message.find("orphan sweep"), std::string::npos) << inst.error().message;
  EXPECT_EQ(fake.calls("POST /pvm-instances").size(), 1u) << "never posted twice";
  fake.setListFails(false);
  auto orphans = p->listInstances(request().sandboxId);
  ASSERT_TRUE(orphans);
  ASSERT_EQ(orphans->size(), 1u);
  EXPECT_TRUE(p->deleteInstance(orphans->front().id));
  expectNothingLeft();
}

// The create's answer is lost and the instance then fails to build: the instance adopted by
// name is deleted.
TEST_F(PowerVsTest, LostCreateAnswerThenBuildFailureDeletesTheAdoptedInstance) {
  fake.loseNextCreateAnswer();
  fake.failNextBuild("no capacity");
  auto p = make();
  auto inst = p->createInstance(request());
  ASSERT_FALSE(inst);
  EXPECT_EQ(fake.creates(), 1);
  EXPECT_EQ(fake.deletes(), 1);
  expectNothingLeft();
}

// Failure injection at every step after the POST: nothing is left behind.
TEST_F(PowerVsTest, FailureAtEveryStepLeavesNothing) {
  struct Step {
    const char* match;
    bool dhcp;
  };
  for (auto step : {Step{"GET /pvm-instances/", false}, Step{"GET /services/dhcp", true},
                    Step{"GET /services/dhcp/", true}}) {
    SCOPED_TRACE(step.match);
    fake.setDhcpNetwork(step.dhcp);
    fake.failNext(step.match, 400, "bad request", "injected", 1);
    auto p = make();
    auto inst = p->createInstance(request());
    ASSERT_FALSE(inst);
    EXPECT_NE(inst.error().message.find("injected"), std::string::npos) << inst.error().message;
    expectNothingLeft();
  }
  // A 5xx that outlasts the retries.
  fake.setDhcpNetwork(false);
  fake.failNext("GET /pvm-instances/", 500, "internal server error", "injected", 100);
  auto p = make();
  auto inst = p->createInstance(request());
  ASSERT_FALSE(inst);
  expectNothingLeft();
  EXPECT_EQ(fake.creates(), fake.deletes());
}

TEST_F(PowerVsTest, ExpiredTokenIsRefreshedOnce) {
  auto p = make();
  ASSERT_TRUE(p->createInstance(request()));
  iam.revokeAll();
  auto second = p->createInstance(request("podvm-nginx-0123abce"));
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(iam.tokensIssued(), 2);
}

TEST_F(PowerVsTest, MalformedAnswersAreErrors) {
  EXPECT_FALSE(parseInstance(json::parse(R"({"serverName":"x"})")));
  EXPECT_FALSE(
      parseInstance(json::parse(R"({"pvmInstanceID":"i","serverName":"x","networks":{}})")));
  EXPECT_FALSE(parseInstance(json::parse(R"({"pvmInstanceID":5,"serverName":"x"})")));
  auto ok = parseInstance(json::parse(
      R"({"pvmInstanceID":"i","serverName":"x","status":"ERROR","fault":{"message":"m","details":"d"},
          "networks":[{"networkID":"n","ipAddress":"198.18.0.1","macAddress":"fa:16","type":"fixed"}]})"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->fault, "m: d");
  EXPECT_EQ(ok->networks.at(0).ipAddress, "198.18.0.1");
  EXPECT_FALSE(parseDhcpServer(json::parse(R"({"id":"d"})")));
  EXPECT_FALSE(parseDhcpServer(
      json::parse(R"({"id":"d","network":{"id":"n"},"leases":[{"instanceIP":"1"}]})")));
  EXPECT_TRUE(parseDhcpServer(json::parse(R"({"id":"d","network":{"id":"n"},"leases":null})")));
}

// The fake refuses what PowerVS refuses (and records it as a problem of the client).
TEST_F(PowerVsTest, FakeChecksTheCreateBodyAsPowerVsDoes) {
  auto p = make();
  json bad = {{"serverName", std::string(48, 'a')},
              {"imageID", kImageId},
              {"memory", "2"},
              {"processors", 0.5},
              {"procType", "turbo"},
              {"userData", "not base64!"},
              {"networks", json::array()}};
  auto r = p->client().call("POST", "/pvm-instances", &bad, true);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().httpStatus, 400);
  auto problems = fake.problems();
  ASSERT_EQ(problems.size(), 1u);
  for (const char* needle :
       {"serverName is longer than 47", "memory must be a positive number",
        "procType must be one of", "networks must be a non-empty array", "userData is not base64"})
    EXPECT_NE(problems[0].find(needle), std::string::npos) << needle;
  EXPECT_EQ(fake.creates(), 0);
}

// A CRN naming another account is refused (403) before anything is made.
TEST_F(PowerVsTest, AWrongAccountFailsTheCrnCheck) {
  auto c = baseConfig();
  c.accountId = "0123456789abcdef0123456789abcdef";
  auto p = make(c);
  auto r = p->createInstance(request());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kPermissionDenied);
  EXPECT_NE(r.error().message.find("CRN does not name"), std::string::npos) << r.error().message;
  EXPECT_EQ(fake.creates(), 0);
  EXPECT_EQ(fake.problems().size(), 1u);
}

TEST_F(PowerVsTest, ListsOurInstancesByName) {
  auto p = make();
  auto a = p->createInstance(request("podvm-a-0123abcd"));
  ASSERT_TRUE(a);
  auto req = request("podvm-b-99887766");
  req.sandboxId = "99887766" + std::string(56, 'f');
  auto b = p->createInstance(req);
  ASSERT_TRUE(b);
  auto other = request("database-server-1");
  ASSERT_TRUE(p->createInstance(other));
  auto all = p->listInstances("");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 2u) << "the non-podvm instance is not ours";
  auto onlyB = p->listInstances(req.sandboxId);
  ASSERT_TRUE(onlyB);
  ASSERT_EQ(onlyB->size(), 1u);
  EXPECT_EQ(onlyB->front().id, b->id);
  EXPECT_FALSE(onlyB->front().ips.empty());
}

TEST_F(PowerVsTest, DeleteRejectsABadIdAndMapsErrors) {
  auto p = make();
  EXPECT_EQ(p->deleteInstance("").error().code, Code::kInvalidArgument);
  EXPECT_EQ(p->deleteInstance("../images/x").error().code, Code::kInvalidArgument);
  fake.failNext("DELETE /pvm-instances/", 403, "forbidden", "not allowed to delete");
  auto st = p->deleteInstance("9e8d7c6b-5a4f-4e3d-2c1b-000000000001");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Code::kPermissionDenied);
  EXPECT_NE(st.error().message.find("not allowed to delete"), std::string::npos);
  fake.failNext("DELETE /pvm-instances/", 410, "gone", "deleted");
  EXPECT_TRUE(p->deleteInstance("9e8d7c6b-5a4f-4e3d-2c1b-000000000001"));
}

// A pod's life through the real hypervisor service makes exactly one instance and deletes it.
TEST_F(PowerVsTest, PodLifecycleThroughTheHypervisorService) {
  auto p = make();
  ASSERT_TRUE(p);
  {
    adaptor::testing::LifecycleDriver driver(*p);
    const std::string id = "5ca1ab1e0123456789abcdef";
    ASSERT_TRUE(
        driver.createVM(id, {{"io.kubernetes.cri.sandbox-name", "web"},
                             {"io.katacontainers.config.hypervisor.machine_type", "s922-1x4"}}));
    auto st = driver.startVM(id);
    ASSERT_TRUE(st) << st.error().message;
    std::string instance = driver.instanceId(id);
    ASSERT_TRUE(fake.instances().contains(instance));
    EXPECT_EQ(fake.instances().at(instance).create["serverName"], "podvm-web-5ca1ab1e");
    EXPECT_EQ(driver.vmIps(id), std::vector<std::string>{fake.instances().at(instance).ip});
    ASSERT_TRUE(driver.stopVM(id));
  }
  EXPECT_EQ(fake.calls("POST /pvm-instances").size(), 1u);
  EXPECT_EQ(fake.calls("DELETE /pvm-instances/").size(), 1u);
  EXPECT_EQ(fake.creates(), 1);
  EXPECT_EQ(fake.deletes(), 1);
  expectNothingLeft();
  expectNoProblems();
}

// peerpod-ctrl builds the provider from peer-pods-cm/peer-pods-secret alone (registry lookup,
// flag registration from the environment) and deletes a leaked PeerPod's instance.
TEST_F(PowerVsTest, PeerpodCtrlDeletesALeakedInstanceFromTheEnvironmentAlone) {
  std::string id;
  {
    auto p = make();
    auto inst = p->createInstance(request());
    ASSERT_TRUE(inst);
    id = inst->id;
  }
  ASSERT_TRUE(registry().contains("ibmcloud-powervs"));
  auto env = flags::mapEnv({{"IBMCLOUD_API_KEY", FakeIam::kDefaultApiKey},
                            {"POWERVS_ZONE", kZone},
                            {"POWERVS_SERVICE_INSTANCE_ID", kWorkspaceId},
                            {"POWERVS_NETWORK_ID", kNetworkId},
                            {"POWERVS_IMAGE_ID", kImageId},
                            {"POWERVS_ENDPOINT", fake.url()},
                            {"POWERVS_IAM_ENDPOINT", iam.baseUrl()},
                            // The fake IAM serves tokens only; IAM Identity is on the fake
                            // PowerVS, so the account id is given here.
                            {"POWERVS_ACCOUNT_ID", kAccountId}});
  auto provider = peerpod_ctrl::buildRegisteredProvider("ibmcloud-powervs", env);
  ASSERT_TRUE(provider) << provider.error().message;
  ASSERT_TRUE((*provider)->deleteInstance(id));
  expectNothingLeft();
  expectNoProblems();

  // A placeholder left in peer-pods-cm is refused before anything is called.
  auto placeholder = flags::mapEnv({{"IBMCLOUD_API_KEY", FakeIam::kDefaultApiKey},
                                    {"POWERVS_ZONE", "REPLACE_ME: the zone"},
                                    {"POWERVS_SERVICE_INSTANCE_ID", kWorkspaceId}});
  EXPECT_FALSE(peerpod_ctrl::buildRegisteredProvider("ibmcloud-powervs", placeholder));
}

TEST_F(PowerVsTest, NoSecretInLogsOrErrors) {
  std::string logged;
  {
    providers::testing::LogCapture capture;
    auto p = make();
    fake.failNextBuild("boom");
    EXPECT_FALSE(p->createInstance(request()));
    logged = capture.text();
  }
  EXPECT_EQ(logged.find(FakeIam::kDefaultApiKey), std::string::npos);
  for (const auto& c : fake.calls())
    EXPECT_EQ(logged.find(c.authorization.substr(7)), std::string::npos);
}

}  // namespace
}  // namespace pp::providers::powervs
