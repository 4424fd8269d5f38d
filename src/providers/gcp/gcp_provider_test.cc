// Tests of the gcp provider against the in-process fake Google endpoints (fake_gcp.h): flags,
// the instances.insert body, operation waits, retries, cleanup, machine-type selection, tags,
// listing, and that no secret reaches the log.
#include "providers/gcp/gcp_provider.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "base/log.h"
#include "providers/gcp/fake_gcp.h"
#include "providers/gcp/gcp_test_harness.h"

namespace pp::providers::gcp {
namespace {

using json = nlohmann::json;
using testing::FakeGcp;
using testing::GcpHarness;
using testing::key;
using testing::kProject;
using testing::kZone;

class GcpProviderTest : public ::testing::Test, protected GcpHarness {
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
    auto p = fake.problems();
    EXPECT_TRUE(p.empty()) << p[0];
  }
};

TEST_F(GcpProviderTest, FlagsAndEnvironmentAsUpstream) {
  GcpConfig c;
  flags::FlagSet fs("gcp", flags::mapEnv({{"GCP_PROJECT_ID", "p9"},
                                          {"GCP_ZONE", "europe-west4-a"},
                                          {"GCP_MACHINE_TYPE", "n2d-standard-4"},
                                          {"DISABLECVM", "true"},
                                          {"TAGS", "env=prod, team=x"},
                                          {"GCP_CREDENTIALS", "{}"}}));
  registerGcpFlags(fs, c);
  EXPECT_EQ(c.projectId, "p9");
  EXPECT_EQ(c.zone, "europe-west4-a");
  EXPECT_EQ(c.machineType, "n2d-standard-4");
  EXPECT_TRUE(c.disableCvm);
  EXPECT_EQ(c.diskType, "pd-standard");
  EXPECT_EQ(c.rootVolumeSize, 10);
  EXPECT_FALSE(c.usePublicIp);
  EXPECT_EQ(c.tags.at("team"), "x");
  EXPECT_EQ(c.computeEndpoint, "https://compute.googleapis.com/compute/v1");
  for (const char* f : {"gcp-credentials", "gcp-project-id", "zone", "image-name", "machine-type",
                        "network", "subnetwork", "disk-type", "disable-cvm", "confidential-type",
                        "root-volume-size", "use-public-ip", "tags"}) {
    EXPECT_NE(fs.lookup(f), nullptr) << f;
  }
  EXPECT_TRUE(fs.lookup("gcp-credentials")->isSecret());
  auto parsed = fs.parse({"-machine-type", "c3-standard-4", "-confidential-type=TDX"});
  ASSERT_TRUE(parsed);
  EXPECT_EQ(c.machineType, "c3-standard-4");
  EXPECT_EQ(c.confidentialType, "TDX");
}

// Upstream's GCP_INSTANCE_TYPES; our earlier GCP_MACHINE_TYPES still works when it is unset.
TEST_F(GcpProviderTest, MachineTypesFromUpstreamsVariableOrOurs) {
  auto machineTypes = [](std::map<std::string, std::string> env) {
    GcpConfig c;
    flags::FlagSet fs("gcp", flags::mapEnv(std::move(env)));
    registerGcpFlags(fs, c);
    EXPECT_EQ(fs.lookup("machine-types")->env(), "GCP_INSTANCE_TYPES");
    return c.machineTypes;
  };
  using Types = std::vector<std::string>;
  EXPECT_EQ(machineTypes({{"GCP_INSTANCE_TYPES", "n2d-standard-2, n2d-standard-4"}}),
            (Types{"n2d-standard-2", "n2d-standard-4"}));
  EXPECT_EQ(machineTypes({{"GCP_MACHINE_TYPES", "e2-small"}}), Types{"e2-small"});
  EXPECT_EQ(
      machineTypes({{"GCP_INSTANCE_TYPES", "c3-standard-4"}, {"GCP_MACHINE_TYPES", "e2-small"}}),
      Types{"c3-standard-4"});
}

TEST_F(GcpProviderTest, CreateAndDelete) {
  auto p = make(baseConfig());
  ASSERT_TRUE(p);
  fake.setWaitsBeforeDone(2);
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  expectNoProblems();
  EXPECT_EQ(inst->id, "podvm-nginx-0123abcd");
  EXPECT_EQ(inst->name, "podvm-nginx-0123abcd");
  ASSERT_EQ(inst->ips.size(), 1u);
  EXPECT_EQ(inst->ips[0], fake.instances().at("podvm-nginx-0123abcd").networkIp);

  // Every API call carried a token the token endpoint issued for our signed JWT.
  auto tokens = fake.issuedTokens();
  ASSERT_EQ(tokens.size(), 1u);
  for (const auto& c : fake.calls("/compute/v1/"))
    EXPECT_EQ(c.authorization, "Bearer " + tokens[0]);

  auto inserts = fake.calls("POST /compute/v1/projects/proj-1/zones/us-central1-a/instances");
  ASSERT_EQ(inserts.size(), 1u);
  const json& b = inserts[0].body;
  EXPECT_EQ(b["name"], "podvm-nginx-0123abcd");
  EXPECT_EQ(b["machineType"], "zones/us-central1-a/machineTypes/e2-medium");
  EXPECT_EQ(b["disks"][0]["initializeParams"]["sourceImage"],
            "projects/proj-1/global/images/podvm-image");
  EXPECT_EQ(b["disks"][0]["initializeParams"]["diskSizeGb"], "10");
  EXPECT_EQ(b["disks"][0]["initializeParams"]["diskType"],
            "zones/us-central1-a/diskTypes/pd-standard");
  EXPECT_EQ(b["metadata"]["items"][0]["key"], "user-data");
  EXPECT_EQ(
      encoding::base64Decode(b["metadata"]["items"][0]["value"].get<std::string>()).value_or(""),
      request().userData);
  EXPECT_EQ(b["metadata"]["items"][1]["value"], "base64");
  EXPECT_EQ(b["networkInterfaces"][0]["network"], "projects/proj-1/global/networks/default");
  EXPECT_EQ(b["networkInterfaces"][0]["accessConfigs"][0]["type"], "ONE_TO_ONE_NAT");
  EXPECT_EQ(b["labels"][kLabelSandbox], std::string("0123abcd") + std::string(55, 'e'));
  EXPECT_EQ(b["labels"][kLabelNode], "worker-1");
  EXPECT_FALSE(b.contains("confidentialInstanceConfig"));
  EXPECT_FALSE(b.contains("scheduling"));
  // The operation was waited on until DONE (two RUNNING answers first), then instances.get.
  EXPECT_EQ(fake.calls("/wait").size(), 3u);
  EXPECT_EQ(sleeps, (std::vector<std::chrono::milliseconds>{std::chrono::seconds(1),
                                                            std::chrono::seconds(1)}))
      << "early RUNNING answers pause before the next wait";
  EXPECT_EQ(fake.calls("GET /compute/v1/projects/proj-1/zones/us-central1-a/instances/podvm-nginx")
                .size(),
            1u);

  fake.setWaitsBeforeDone(0);
  ASSERT_TRUE(p->deleteInstance(inst->id));
  EXPECT_TRUE(fake.instances().empty());
  EXPECT_EQ(fake.calls("DELETE").size(), 1u);
  expectNoProblems();
}

TEST_F(GcpProviderTest, ImageSizeSubnetAndPublicIp) {
  auto c = baseConfig();
  c.rootVolumeSize = 5;
  c.subnetwork = "pods";
  c.usePublicIp = true;
  c.imageName = "https://www.googleapis.com/compute/v1/projects/other/global/images/podvm-x";
  fake.setImageSize(20);
  auto p = make(c);
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_EQ(inst->ips.at(0), fake.instances().begin()->second.natIp);
  const json b =
      fake.calls("POST /compute/v1/projects/proj-1/zones/us-central1-a/instances")[0].body;
  EXPECT_EQ(b["disks"][0]["initializeParams"]["diskSizeGb"], "20");
  EXPECT_EQ(b["disks"][0]["initializeParams"]["sourceImage"], c.imageName);
  EXPECT_EQ(b["networkInterfaces"][0]["subnetwork"],
            "projects/proj-1/regions/us-central1/subnetworks/pods");
  EXPECT_EQ(fake.calls("GET /compute/v1/projects/other/global/images/podvm-x").size(), 1u);
  expectNoProblems();
}

TEST_F(GcpProviderTest, NoExternalNat) {
  auto c = baseConfig();
  c.externalNat = false;
  auto p = make(c);
  ASSERT_TRUE(p->createInstance(request()));
  EXPECT_FALSE(fake.calls("POST /compute/v1/projects/proj-1/zones/us-central1-a/instances")[0]
                   .body["networkInterfaces"][0]
                   .contains("accessConfigs"));
  c.usePublicIp = true;
  EXPECT_FALSE(GcpProvider::create(c, {}));
}

TEST_F(GcpProviderTest, ConfidentialVm) {
  auto c = baseConfig();
  c.disableCvm = false;
  auto p = make(c);
  auto r = p->createInstance(request());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("GCP_CONFIDENTIAL_TYPE"), std::string::npos);
  EXPECT_TRUE(fake.calls("POST").empty());

  c.confidentialType = "SEV_SNP";
  fake.addMachineType("n2d-standard-2", 2, 8192);
  c.machineType = "n2d-standard-2";
  p = make(c);
  ASSERT_TRUE(p->createInstance(request())) << fake.problems().size();
  const json b =
      fake.calls("POST /compute/v1/projects/proj-1/zones/us-central1-a/instances")[0].body;
  EXPECT_EQ(b["confidentialInstanceConfig"]["confidentialInstanceType"], "SEV_SNP");
  EXPECT_EQ(b["confidentialInstanceConfig"]["enableConfidentialCompute"], true);
  EXPECT_EQ(b["scheduling"]["onHostMaintenance"], "TERMINATE");
  expectNoProblems();

  c.confidentialType = "SGX";
  EXPECT_FALSE(GcpProvider::create(c, {}));
}

TEST_F(GcpProviderTest, OperationErrorSurfacesAndCleansUp) {
  auto p = make(baseConfig());
  fake.failNextInsertOperation(
      "ZONE_RESOURCE_POOL_EXHAUSTED",
      "The zone 'projects/proj-1/zones/us-central1-a' does not have enough "
      "resources available to fulfill the request.",
      503);
  auto r = p->createInstance(request());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("ZONE_RESOURCE_POOL_EXHAUSTED"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("does not have enough resources"), std::string::npos);
  EXPECT_EQ(r.error().code, Code::kResourceExhausted);
  // The cleanup delete was tried (the instance did not exist: 404 counts as gone).
  EXPECT_EQ(fake.calls("DELETE").size(), 1u);
  EXPECT_TRUE(fake.instances().empty());
}

TEST_F(GcpProviderTest, OperationErrorAfterTheInstanceExistsDeletesIt) {
  auto p = make(baseConfig());
  fake.failNextInsertOperation("QUOTA_EXCEEDED", "Quota 'CPUS' exceeded.  Limit: 8.0", 403, true);
  auto r = p->createInstance(request());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("QUOTA_EXCEEDED: Quota 'CPUS' exceeded"), std::string::npos);
  EXPECT_TRUE(fake.instances().empty());
}

TEST_F(GcpProviderTest, FailureAfterInsertDeletesTheInstance) {
  auto p = make(baseConfig());
  fake.failNext("GET /compute/v1/projects/proj-1/zones/us-central1-a/instances/podvm", 400,
                "invalid", "Invalid value");
  auto r = p->createInstance(request());
  ASSERT_FALSE(r);
  EXPECT_TRUE(fake.instances().empty());
  EXPECT_EQ(fake.calls("DELETE").size(), 1u);

  fake.setNoAddresses(true);
  r = p->createInstance(request());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no internal IP"), std::string::npos);
  EXPECT_TRUE(fake.instances().empty());
}

TEST_F(GcpProviderTest, AlreadyExistingInstanceIsNotDeleted) {
  auto p = make(baseConfig());
  fake.addInstance("podvm-nginx-0123abcd", json::object());
  auto r = p->createInstance(request());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kAlreadyExists);
  EXPECT_EQ(fake.instances().size(), 1u);
  EXPECT_TRUE(fake.calls("DELETE").empty());
}

TEST_F(GcpProviderTest, RateLimitsAndServerErrorsAreRetried) {
  auto p = make(baseConfig());
  fake.failNext("POST /compute/v1/projects/proj-1/zones/us-central1-a/instances", 403,
                "rateLimitExceeded", "Rate Limit Exceeded", 1);
  fake.failNext("POST /compute/v1/projects/proj-1/zones/us-central1-a/instances", 429,
                "rateLimitExceeded", "Too many requests", 1, "3");
  fake.failNext("/wait", 503, "backendError", "Backend Error", 2);
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_EQ(fake.calls("POST /compute/v1/projects/proj-1/zones/us-central1-a/instances").size(),
            3u);
  ASSERT_EQ(sleeps.size(), 4u);
  EXPECT_EQ(sleeps[1], std::chrono::seconds(3));  // Retry-After honoured
  // The retried insert kept its requestId, so Compute Engine applies it once.
  auto inserts = fake.calls("POST /compute/v1/projects/proj-1/zones/us-central1-a/instances");
  EXPECT_EQ(inserts[0].query, inserts[2].query);
  EXPECT_EQ(inserts[0].query.rfind("requestId=", 0), 0u);
  expectNoProblems();
}

TEST_F(GcpProviderTest, TokenEndpointOutageIsRetried) {
  auto p = make(baseConfig());
  fake.failNext("POST /token", 503, "backendError", "unavailable", 2);
  auto r = p->listInstances("");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(fake.calls("POST /token").size(), 3u);
  EXPECT_EQ(sleeps.size(), 2u);
}

TEST_F(GcpProviderTest, InsertThatKeepsFailingIsCleanedUp) {
  // After the last 5xx the outcome is unknown (the insert may have been applied): the provider
  // deletes whatever may exist under the name.
  auto p = make(baseConfig());
  fake.failNext("POST /compute/v1/projects/proj-1/zones/us-central1-a/instances", 500,
                "backendError", "Internal error. Please try again or contact Google Support.", 100);
  auto r = p->createInstance(request());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_NE(r.error().message.find("Internal error"), std::string::npos);
  EXPECT_EQ(fake.calls("POST /compute/v1/projects/proj-1/zones/us-central1-a/instances").size(),
            6u);
  EXPECT_EQ(
      fake.calls("DELETE "
                 "/compute/v1/projects/proj-1/zones/us-central1-a/instances/podvm-nginx-0123abcd")
          .size(),
      1u);
}

TEST_F(GcpProviderTest, PermissionDeniedIsNotRetried) {
  auto p = make(baseConfig());
  fake.failNext("POST /compute/v1/projects/proj-1/zones/us-central1-a/instances", 403, "forbidden",
                "Required 'compute.instances.create' permission for "
                "'projects/proj-1/zones/us-central1-a/instances/podvm-nginx-0123abcd'",
                5);
  auto r = p->createInstance(request());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kPermissionDenied);
  EXPECT_NE(r.error().message.find("compute.instances.create"), std::string::npos);
  EXPECT_EQ(fake.calls("POST /compute/v1/projects/proj-1/zones/us-central1-a/instances").size(),
            1u);
  EXPECT_TRUE(sleeps.empty());
}

TEST_F(GcpProviderTest, RetriesGiveUpWithTheLastError) {
  auto p = make(baseConfig());
  fake.failNext("GET /compute/v1/projects/proj-1/zones/us-central1-a/instances", 503,
                "backendError", "Backend Error", 100);
  auto r = p->listInstances("");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_NE(r.error().message.find("HTTP 503 backendError: Backend Error"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(fake.calls("GET /compute/v1/projects/proj-1/zones/us-central1-a/instances").size(), 6u);
}

TEST_F(GcpProviderTest, ExpiredTokenIsRefreshedOnce) {
  auto p = make(baseConfig());
  ASSERT_TRUE(p->listInstances(""));
  fake.failNext("GET /compute/v1/projects/proj-1/zones/us-central1-a/instances", 401, "authError",
                "Invalid Credentials");
  ASSERT_TRUE(p->listInstances(""));
  EXPECT_EQ(fake.issuedTokens().size(), 2u);
}

TEST_F(GcpProviderTest, DeleteOfAGoneInstanceSucceeds) {
  auto p = make(baseConfig());
  EXPECT_TRUE(p->deleteInstance("podvm-gone-12345678"));
  EXPECT_EQ(fake.calls("DELETE").size(), 1u);
  EXPECT_FALSE(p->deleteInstance(""));
  fake.addInstance("podvm-x-1", json::object());
  fake.failNext("DELETE", 403, "forbidden", "Required 'compute.instances.delete' permission");
  auto r = p->deleteInstance("podvm-x-1");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kPermissionDenied);
}

TEST_F(GcpProviderTest, MachineTypeFromSizingAnnotations) {
  fake.addMachineType("e2-standard-2", 2, 8192);
  fake.addMachineType("e2-standard-4", 4, 16384);
  fake.addMachineType("e2-highcpu-8", 8, 8192);
  fake.addMachineType("n2-standard-4", 4, 16384);
  auto p = make(baseConfig());
  CreateRequest r = request();
  // No sizing: the configured type, without any machine-type lookup.
  EXPECT_EQ(*p->machineTypeFor(r.spec), "e2-medium");
  EXPECT_TRUE(fake.calls("machineTypes").empty());
  r.spec.vcpus = 3;
  r.spec.memoryMiB = 6000;
  auto t = p->machineTypeFor(r.spec);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(*t, "e2-highcpu-8");  // the smallest memory that fits, same series (e2-) only
  r.spec.memoryMiB = 12000;
  EXPECT_EQ(*p->machineTypeFor(r.spec), "e2-standard-4");
  r.spec.vcpus = 64;
  EXPECT_FALSE(p->machineTypeFor(r.spec));
  // An explicit machine_type annotation must be in the table.
  r.spec = {};
  r.spec.instanceType = "n2-standard-4";
  EXPECT_FALSE(p->machineTypeFor(r.spec));
  r.spec.instanceType = "e2-standard-2";
  EXPECT_EQ(*p->machineTypeFor(r.spec), "e2-standard-2");
  EXPECT_EQ(fake.calls("machineTypes").size(), 1u);  // listed once

  // The selected type reaches instances.insert.
  r = request();
  r.spec.vcpus = 4;
  r.spec.memoryMiB = 16384;
  ASSERT_TRUE(p->createInstance(r));
  EXPECT_EQ(fake.calls("POST /compute/v1/projects/proj-1/zones/us-central1-a/instances")[0]
                .body["machineType"],
            "zones/us-central1-a/machineTypes/e2-standard-4");
}

TEST_F(GcpProviderTest, MachineTypeFromConfiguredList) {
  fake.addMachineType("n2-standard-4", 4, 16384);
  fake.addMachineType("a2-highgpu-1g", 12, 87040, 1);
  auto c = baseConfig();
  c.machineTypes = {"e2-medium", "n2-standard-4", "a2-highgpu-1g"};
  auto p = make(c);
  InstanceSpec s;
  s.vcpus = 4;
  s.memoryMiB = 8192;
  EXPECT_EQ(*p->machineTypeFor(s), "n2-standard-4");
  s.gpus = 1;
  EXPECT_EQ(*p->machineTypeFor(s), "a2-highgpu-1g");
  EXPECT_EQ(fake.calls("GET /compute/v1/projects/proj-1/zones/us-central1-a/machineTypes/").size(),
            3u);
  CreateRequest r = request();
  r.spec = s;
  ASSERT_TRUE(p->createInstance(r));
  EXPECT_EQ(fake.calls("POST /compute/v1/projects/proj-1/zones/us-central1-a/instances")[0]
                .body["scheduling"]["onHostMaintenance"],
            "TERMINATE");  // GPUs cannot live-migrate
}

TEST_F(GcpProviderTest, ResourceManagerTagsAtInsert) {
  fake.addTag("env", "prod", "tagKeys/281475", "tagValues/281476");
  auto c = baseConfig();
  c.tags = {{"env", "prod"}};
  auto p = make(c);
  ASSERT_TRUE(p->createInstance(request()));
  const json b =
      fake.calls("POST /compute/v1/projects/proj-1/zones/us-central1-a/instances")[0].body;
  EXPECT_EQ(b["params"]["resourceManagerTags"]["tagKeys/281475"], "tagValues/281476");
  auto look = fake.calls("/v3/tagValues/namespaced");
  ASSERT_EQ(look.size(), 1u);
  EXPECT_NE(look[0].query.find("proj-1%2Fenv%2Fprod"), std::string::npos) << look[0].query;
  EXPECT_NE(fake.jwtClaims()[0]["scope"].get<std::string>().find("cloud-platform.read-only"),
            std::string::npos);

  c.tags = {{"env", "missing"}};
  p = make(c);
  auto r = p->createInstance(request("podvm-other-0123abcd"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("env=missing"), std::string::npos) << r.error().message;
}

TEST_F(GcpProviderTest, ListInstancesByLabel) {
  fake.addInstance("podvm-a-1", {{kLabelSandbox, "aaaa"}});
  fake.addInstance("podvm-b-1", {{kLabelSandbox, "bbbb"}});
  fake.addInstance("unrelated", {{"team", "x"}});
  auto p = make(baseConfig());
  auto all = p->listInstances("");
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, "podvm-a-1");
  EXPECT_FALSE((*all)[0].ips.empty());
  auto one = p->listInstances("bbbb");
  ASSERT_TRUE(one);
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].name, "podvm-b-1");
  EXPECT_NE(fake.calls("GET")[0].query.find("filter=labels.peerpods-sandbox%3A%2A"),
            std::string::npos)
      << fake.calls("GET")[0].query;
  EXPECT_NE(fake.calls("GET")[1].query.find("filter=labels.peerpods-sandbox%3Dbbbb"),
            std::string::npos);
}

TEST_F(GcpProviderTest, VerifyConfig) {
  auto p = make(baseConfig());
  EXPECT_TRUE(p->verifyConfig());
  auto c = baseConfig();
  c.machineType = "no-such-type";
  p = make(c);
  auto st = p->verifyConfig();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("-machine-type"), std::string::npos);
  c = baseConfig();
  c.imageName = "";
  EXPECT_FALSE(make(c)->verifyConfig());
}

TEST_F(GcpProviderTest, MetadataServerCredentials) {
  auto c = baseConfig();
  c.credentials.clear();
  GcpDependencies d;
  d.env = flags::mapEnv({{"GCE_METADATA_HOST", fake.metadataHost()}});
  auto p = GcpProvider::create(c, d);
  ASSERT_TRUE(p);
  ASSERT_TRUE((*p)->createInstance(request()));
  auto calls = fake.calls("POST /compute/v1/");
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls[0].authorization.rfind("Bearer ya29.c.fake-metadata-token-", 0), 0u);
}

TEST_F(GcpProviderTest, NoSecretsInTheLog) {
  auto level = log::level();
  log::setLevel(log::Level::kDebug);
  ::testing::internal::CaptureStderr();
  auto p = make(baseConfig());
  fake.failNext("POST /compute/v1/projects/proj-1/zones/us-central1-a/instances", 429,
                "rateLimitExceeded", "slow down");
  auto inst = p->createInstance(request());
  fake.failNextInsertOperation("QUOTA_EXCEEDED", "Quota exceeded", 403, true);
  (void)p->createInstance(request("podvm-two-0123abcd"));
  (void)p->deleteInstance("podvm-nginx-0123abcd");
  std::string out = ::testing::internal::GetCapturedStderr();
  log::setLevel(level);
  ASSERT_TRUE(inst);
  EXPECT_NE(out.find("podvm-nginx-0123abcd"), std::string::npos);  // the log did capture
  EXPECT_EQ(out.find("PRIVATE KEY"), std::string::npos);
  std::string pem = key().privatePem;
  EXPECT_EQ(out.find(pem.substr(100, 40)), std::string::npos);
  for (const auto& t : fake.issuedTokens()) EXPECT_EQ(out.find(t), std::string::npos);
  EXPECT_EQ(out.find("ya29."), std::string::npos);
  for (const auto& a : fake.assertions()) EXPECT_EQ(out.find(a.substr(0, 40)), std::string::npos);
  EXPECT_EQ(out.find("Bearer"), std::string::npos);
  EXPECT_EQ(out.find(encoding::base64Encode(request().userData)), std::string::npos);
}

}  // namespace
}  // namespace pp::providers::gcp

namespace pp::providers::gcp {
namespace {

TEST(GcpParse, OperationsStrictly) {
  using nlohmann::json;
  EXPECT_FALSE(parseOperation(json::array()));
  EXPECT_FALSE(parseOperation(json{{"name", "op-1"}}));
  EXPECT_FALSE(parseOperation(json{{"name", 5}, {"status", "DONE"}}));
  auto ok = parseOperation(json{{"name", "op-1"}, {"status", "DONE"}});
  ASSERT_TRUE(ok);
  EXPECT_FALSE(ok->failed());
  // An error object of the wrong shape still counts as a failure.
  auto odd =
      parseOperation(json{{"name", "op-1"}, {"status", "DONE"}, {"error", {{"errors", "x"}}}});
  ASSERT_TRUE(odd);
  EXPECT_TRUE(odd->failed());
  auto err = parseOperation(json::parse(R"({"name":"op-2","status":"DONE","httpErrorStatusCode":400,
    "error":{"errors":[{"code":"INVALID_FIELD_VALUE","message":"bad"},{"code":1,"message":null}]}})"));
  ASSERT_TRUE(err);
  EXPECT_EQ(err->errorCode, "INVALID_FIELD_VALUE");
  EXPECT_EQ(err->httpErrorStatusCode, 400);
}

TEST(GcpParse, InstancesStrictly) {
  using nlohmann::json;
  EXPECT_FALSE(parseInstance(json{{"id", "1"}}));
  auto i = parseInstance(
      json::parse(R"({"name":"vm","id":"18446744073709551615x","labels":{"a":"b","n":1},
    "networkInterfaces":[7,{"networkIP":"10.0.0.2","accessConfigs":[{"natIP":"198.18.0.2"},[]]},{"networkIP":3}]})"));
  ASSERT_TRUE(i);
  EXPECT_EQ(i->id, "");
  EXPECT_EQ(i->internalIps, std::vector<std::string>{"10.0.0.2"});
  EXPECT_EQ(i->natIps, std::vector<std::string>{"198.18.0.2"});
  EXPECT_EQ(i->labels.size(), 1u);
}

TEST(GcpParse, LabelValues) {
  EXPECT_EQ(labelValue("My_Pod.name"), "my_pod-name");
  EXPECT_EQ(labelValue(std::string(100, 'a')).size(), 63u);
}

}  // namespace
}  // namespace pp::providers::gcp
