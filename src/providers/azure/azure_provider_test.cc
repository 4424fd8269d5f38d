// The azure provider against the in-process fake ARM / Entra / IMDS endpoints (fake_azure.h):
// flags, clouds, the three credential kinds and token caching, the VM PUT body, long-running
// operations (success and failure), throttling and 5xx retries, deletion (404 is success),
// cleanup after a failed create, size selection, image forms, and no secrets in the log.
#include "providers/azure/azure_provider.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "base/encoding.h"
#include "base/log.h"
#include "providers/azure/azure_test_harness.h"
#include "providers/azure/fake_azure.h"
#include "providers/testing/requests.h"

namespace pp::providers::azure {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::FakeAzure;

using testing::Harness;
using testing::kPubKey;
using testing::tempFile;

CreateRequest request(const std::string& sandbox = "0123456789abcdef") {
  return providers::testing::nginxRequest(sandbox);
}

json putBody(const FakeAzure& fake) {
  auto puts = fake.calls("PUT vm");
  EXPECT_FALSE(puts.empty());
  return puts.empty() ? json() : json::parse(puts.back().body);
}

TEST(AzureFlags, UpstreamNamesEnvAndDefaults) {
  AzureConfig c;
  flags::FlagSet fs("azure",
                    flags::mapEnv({{"AZURE_INSTANCE_SIZES", "Standard_DC2as_v5, Standard_DC4as_v5"},
                                   {"AZURE_NSG_ID", "/nsg"},
                                   {"SSH_USERNAME", "core"},
                                   {"ENABLE_SECURE_BOOT", "true"},
                                   {"AZURE_ENVIRONMENT", "AzureChinaCloud"}}));
  registerAzureFlags(fs, c);
  for (const char* f : {"clientid",
                        "secret",
                        "tenantid",
                        "subscriptionid",
                        "region",
                        "resourcegroup",
                        "subnetid",
                        "imageid",
                        "instance-size",
                        "instance-sizes",
                        "securitygroupid",
                        "zone",
                        "ssh-key-path",
                        "ssh-username",
                        "disable-cvm",
                        "enable-secure-boot",
                        "use-public-ip",
                        "root-volume-size",
                        "tags",
                        "azure-resource-manager-endpoint",
                        "azure-authority-host"}) {
    EXPECT_NE(fs.lookup(f), nullptr) << f;
  }
  EXPECT_TRUE(fs.lookup("secret")->isSecret());
  EXPECT_TRUE(fs.lookup("clientid")->isSecret());
  EXPECT_EQ(c.size, "Standard_DC2as_v5");
  EXPECT_EQ(c.sizes, (std::vector<std::string>{"Standard_DC2as_v5", "Standard_DC4as_v5"}));
  EXPECT_EQ(c.securityGroupId, "/nsg");
  EXPECT_EQ(c.sshUserName, "core");
  EXPECT_TRUE(c.enableSecureBoot);
  EXPECT_FALSE(c.disableCvm);
  EXPECT_EQ(c.rootVolumeSize, 0);
  EXPECT_EQ(c.environment, "AzureChinaCloud");
  EXPECT_EQ(c.diskType, "Premium_LRS");
  auto parsed = fs.parse({"-resourcegroup", "rg1", "-instance-size", "Standard_D2s_v5"});
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(c.resourceGroup, "rg1");
  EXPECT_EQ(c.size, "Standard_D2s_v5");
}

TEST(AzureClouds, EnvironmentsAndOverrides) {
  auto pub = cloudEndpoints("");
  ASSERT_TRUE(pub);
  EXPECT_EQ(pub->resourceManager, "https://management.azure.com");
  EXPECT_EQ(pub->authorityHost, "https://login.microsoftonline.com");
  auto cn = cloudEndpoints("AzureChinaCloud");
  ASSERT_TRUE(cn);
  EXPECT_EQ(cn->resourceManager, "https://management.chinacloudapi.cn");
  EXPECT_EQ(cn->authorityHost, "https://login.chinacloudapi.cn");
  auto gov = cloudEndpoints("AzureUSGovernmentCloud");
  ASSERT_TRUE(gov);
  EXPECT_EQ(gov->resourceManager, "https://management.usgovcloudapi.net");
  EXPECT_EQ(gov->authorityHost, "https://login.microsoftonline.us");
  EXPECT_FALSE(cloudEndpoints("AzureGermanCloud"));

  Harness h;
  AzureConfig c = h.config();
  c.resourceManagerEndpoint.clear();
  c.authorityHost.clear();
  c.environment = "usgov";
  auto p = h.make(c);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->resourceManager(), "https://management.usgovcloudapi.net");
  EXPECT_EQ(p->authorityHost(), "https://login.microsoftonline.us");
  c.resourceManagerEndpoint = "https://arm.private.example/";
  auto q = h.make(c);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->resourceManager(), "https://arm.private.example");
}

TEST(AzureCreate, ClientSecretCreateWithLroSuccess) {
  Harness h;
  auto p = h.make(h.config());
  ASSERT_TRUE(p);
  EXPECT_EQ(p->authMode(), AuthMode::kClientSecret);
  CreateRequest req = request();
  auto inst = p->createInstance(req);
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_EQ(inst->id, std::string("/subscriptions/") + testing::kSub + "/resourceGroups/" +
                          testing::kGroup +
                          "/providers/Microsoft.Compute/virtualMachines/podvm-nginx-01234567");
  EXPECT_EQ(inst->name, "podvm-nginx-01234567");
  ASSERT_EQ(inst->ips.size(), 1u);
  EXPECT_TRUE(inst->ips[0].starts_with("10.0.0.")) << inst->ips[0];
  EXPECT_TRUE(h.fake.problems().empty()) << h.fake.problems().front();

  json b = putBody(h.fake);
  const json& pr = b["properties"];
  EXPECT_EQ(b["location"], "eastus");
  EXPECT_EQ(pr["hardwareProfile"]["vmSize"], "Standard_DC2as_v5");
  EXPECT_EQ(pr["storageProfile"]["imageReference"]["communityGalleryImageId"], h.config().imageId);
  const json& od = pr["storageProfile"]["osDisk"];
  EXPECT_EQ(od["managedDisk"]["storageAccountType"], "Premium_LRS");
  EXPECT_EQ(od["managedDisk"]["securityProfile"]["securityEncryptionType"], "VMGuestStateOnly");
  EXPECT_FALSE(od.contains("diskSizeGB"));
  EXPECT_EQ(pr["securityProfile"]["securityType"], "ConfidentialVM");
  EXPECT_EQ(pr["securityProfile"]["uefiSettings"]["secureBootEnabled"], false);
  EXPECT_EQ(pr["securityProfile"]["uefiSettings"]["vTpmEnabled"], true);
  const json& nic = pr["networkProfile"]["networkInterfaceConfigurations"][0];
  EXPECT_EQ(nic["name"], "podvm-nginx-01234567-net");
  EXPECT_EQ(nic["properties"]["deleteOption"], "Delete");
  EXPECT_EQ(nic["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"],
            h.config().subnetId);
  EXPECT_FALSE(nic["properties"]["ipConfigurations"][0]["properties"].contains(
      "publicIPAddressConfiguration"));
  EXPECT_EQ(pr["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"][0]["keyData"], kPubKey);
  EXPECT_EQ(pr["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"][0]["path"],
            "/home/peerpod/.ssh/authorized_keys");
  EXPECT_EQ(encoding::base64Decode(pr["userData"].get<std::string>()).value_or(""), req.userData);
  EXPECT_EQ(b["tags"]["team"], "peerpods");
  EXPECT_EQ(b["tags"][kTagSandbox], "0123456789abcdef");
  EXPECT_EQ(b["tags"][kTagNode], "worker-1");

  // The operation was polled to its end (2 InProgress + Succeeded), honouring Retry-After.
  EXPECT_EQ(h.fake.calls("GET op").size(), 3u);
  EXPECT_EQ(h.sleptMs.front(), 10000);
  // One token served every call.
  EXPECT_EQ(h.fake.calls("POST token").size(), 1u);
  for (const auto& c : h.fake.calls()) {
    if (c.method != "POST token") {
      EXPECT_EQ(c.auth, "Bearer arm-token-1") << c.method;
    }
  }
}

TEST(AzureCreate, PublicIpNsgRootVolumeNonCvmAndDiskType) {
  Harness h;
  AzureConfig c = h.config();
  c.usePublicIp = true;
  c.securityGroupId =
      "/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/networkSecurityGroups/nsg";
  c.rootVolumeSize = 30;
  c.disableCvm = true;
  c.diskType = "StandardSSD_LRS";
  auto p = h.make(c);
  ASSERT_TRUE(p);
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  ASSERT_EQ(inst->ips.size(), 2u);
  EXPECT_TRUE(inst->ips[0].starts_with("20.81.1.")) << "public IP first";
  EXPECT_TRUE(inst->ips[1].starts_with("10.0.0."));
  json pr = putBody(h.fake)["properties"];
  EXPECT_FALSE(pr.contains("securityProfile"));
  EXPECT_EQ(pr["storageProfile"]["osDisk"]["diskSizeGB"], 30);
  EXPECT_EQ(pr["storageProfile"]["osDisk"]["managedDisk"]["storageAccountType"], "StandardSSD_LRS");
  EXPECT_FALSE(pr["storageProfile"]["osDisk"]["managedDisk"].contains("securityProfile"));
  const json& nicp = pr["networkProfile"]["networkInterfaceConfigurations"][0]["properties"];
  EXPECT_EQ(nicp["networkSecurityGroup"]["id"], c.securityGroupId);
  EXPECT_EQ(nicp["ipConfigurations"][0]["properties"]["publicIPAddressConfiguration"]["properties"]
                ["deleteOption"],
            "Delete");
  EXPECT_TRUE(h.fake.problems().empty());
}

TEST(AzureAuth, ManagedIdentityUsesImdsWithMetadataHeader) {
  Harness h;
  AzureConfig c = h.config();
  c.clientSecret.clear();
  auto p = h.make(c);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->authMode(), AuthMode::kManagedIdentity);
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  auto imds = h.fake.calls("GET imds");
  ASSERT_EQ(imds.size(), 1u);
  EXPECT_NE(imds[0].query.find("client_id="), std::string::npos);
  EXPECT_TRUE(h.fake.calls("POST token").empty());
  EXPECT_TRUE(h.fake.problems().empty()) << h.fake.problems().front();
}

TEST(AzureAuth, ExplicitTokenAudience) {
  // Resource Manager reached at another address (here the fake) than its token audience.
  for (bool managed : {false, true}) {
    Harness h;
    h.fake.audience = "https://management.azure.com";
    AzureConfig c = h.config();
    c.tokenAudience = "https://management.azure.com/";
    if (managed) c.clientSecret.clear();
    auto p = h.make(c);
    ASSERT_TRUE(p);
    ASSERT_TRUE(p->createInstance(request()));
    ASSERT_EQ(h.fake.calls(managed ? "GET imds" : "POST token").size(), 1u);
    EXPECT_TRUE(h.fake.problems().empty()) << h.fake.problems().front();
    if (managed) {
      EXPECT_NE(
          h.fake.calls("GET imds")[0].query.find("resource=https%3A%2F%2Fmanagement.azure.com%2F"),
          std::string::npos);
    }
  }
  // Without it, the audience is the endpoint, which the fake now refuses to accept.
  Harness h;
  h.fake.audience = "https://management.azure.com";
  auto p = h.make(h.config());
  ASSERT_TRUE(p);
  (void)p->createInstance(request());
  EXPECT_FALSE(h.fake.problems().empty());
}

TEST(AzureAuth, WorkloadIdentityUsesTheFederatedToken) {
  Harness h;
  AzureConfig c = h.config();
  c.clientSecret.clear();
  c.federatedTokenFile = tempFile("federated-token", "federated.jwt.token\n");
  auto p = h.make(c);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->authMode(), AuthMode::kWorkloadIdentity);
  ASSERT_TRUE(p->verifyConfig());
  auto tok = h.fake.calls("POST token");
  ASSERT_EQ(tok.size(), 1u);
  EXPECT_NE(tok[0].body.find("client_assertion=federated.jwt.token"), std::string::npos);
  EXPECT_EQ(tok[0].body.find("client_secret"), std::string::npos);
}

TEST(AzureAuth, TokenIsCachedUntilNearExpiry) {
  Harness h;
  auto p = h.make(h.config());
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->verifyConfig());
  ASSERT_TRUE(p->verifyConfig());
  EXPECT_EQ(h.fake.calls("POST token").size(), 1u);
  {
    std::lock_guard lock(h.mu);
    h.now += 50min;  // 10 minutes left: still fine
  }
  ASSERT_TRUE(p->verifyConfig());
  EXPECT_EQ(h.fake.calls("POST token").size(), 1u);
  {
    std::lock_guard lock(h.mu);
    h.now += 6min;  // 4 minutes left: refresh
  }
  ASSERT_TRUE(p->verifyConfig());
  EXPECT_EQ(h.fake.calls("POST token").size(), 2u);
  EXPECT_EQ(h.fake.calls("GET group").back().auth, "Bearer arm-token-2");
}

TEST(AzureAuth, RejectedTokenIsReplacedOnce) {
  Harness h;
  auto p = h.make(h.config());
  ASSERT_TRUE(p);
  h.fake.failNext("GET group", 401, "InvalidAuthenticationToken",
                  "The access token has been revoked.");
  ASSERT_TRUE(p->verifyConfig());
  EXPECT_EQ(h.fake.calls("POST token").size(), 2u);
  EXPECT_EQ(h.fake.calls("GET group").back().auth, "Bearer arm-token-2");
  // A second refusal in a row is final.
  h.fake.failNext("GET group", 401, "InvalidAuthenticationToken", "nope", 2);
  auto st = p->verifyConfig();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Code::kUnauthenticated);
  EXPECT_NE(st.error().message.find("InvalidAuthenticationToken"), std::string::npos);
}

TEST(AzureAuth, WrongSecretIsAClearErrorWithoutTheSecret) {
  Harness h;
  AzureConfig c = h.config();
  c.clientSecret = "wrong-secret-value";
  auto p = h.make(c);
  ASSERT_TRUE(p);
  auto st = p->verifyConfig();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Code::kUnauthenticated);
  EXPECT_NE(st.error().message.find("AADSTS7000215"), std::string::npos) << st.error().message;
  EXPECT_EQ(st.error().message.find("wrong-secret-value"), std::string::npos);
}

TEST(AzureCreate, LroFailureSurfacesAzureErrorAndCleansUp) {
  Harness h;
  h.fake.failCreateCode = "OSProvisioningClientError";
  h.fake.failCreateMessage = "OS provisioning failed for VM 'podvm-nginx-01234567'.";
  auto p = h.make(h.config());
  ASSERT_TRUE(p);
  auto inst = p->createInstance(request());
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().code, Code::kAborted);
  EXPECT_NE(inst.error().message.find("OSProvisioningClientError: OS provisioning failed"),
            std::string::npos)
      << inst.error().message;
  // The VM (and with it the NIC and disk) is deleted; the NIC the failure left is deleted too.
  EXPECT_TRUE(h.fake.vms().empty());
  EXPECT_TRUE(h.fake.nics().empty());
  EXPECT_EQ(h.fake.calls("DELETE vm").size(), 1u);
  EXPECT_TRUE(h.fake.problems().empty()) << h.fake.problems().front();
}

TEST(AzureCreate, ThrottlingAndServerErrorsAreRetried) {
  Harness h;
  h.fake.failNext("PUT vm", 429, "TooManyRequests", "throttled", 2, "7");
  h.fake.failNext("GET nic", 503, "ServiceUnavailable", "try later", 1);
  auto p = h.make(h.config());
  ASSERT_TRUE(p);
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_EQ(h.fake.calls("PUT vm").size(), 3u);
  EXPECT_EQ(h.fake.calls("GET nic").size(), 2u);
  EXPECT_EQ(std::count(h.sleptMs.begin(), h.sleptMs.end(), 7000), 2);
}

TEST(AzureCreate, MillisecondRetryHintAndSecureBoot) {
  Harness h;
  h.fake.failNext("GET sizes", 429, "TooManyRequests", "throttled", 1, "ms:1500");
  AzureConfig c = h.config();
  c.enableSecureBoot = true;
  auto p = h.make(c);
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->createInstance(request()));
  EXPECT_EQ(h.sleptMs.front(), 1500);
  EXPECT_EQ(putBody(h.fake)["properties"]["securityProfile"]["uefiSettings"]["secureBootEnabled"],
            true);
}

TEST(AzureCreate, RejectedPutMakesNothingToCleanUp) {
  Harness h;
  h.fake.failNext("PUT vm", 400, "InvalidParameter",
                  "The value of parameter imageReference is invalid.");
  auto p = h.make(h.config());
  ASSERT_TRUE(p);
  auto inst = p->createInstance(request());
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().code, Code::kInvalidArgument);
  EXPECT_NE(inst.error().message.find("InvalidParameter: The value of parameter imageReference"),
            std::string::npos);
  EXPECT_TRUE(h.fake.calls("DELETE vm").empty());
  EXPECT_EQ(h.fake.calls("PUT vm").size(), 1u);
}

TEST(AzureCreate, PersistentServerErrorOnPutStillCleansUp) {
  Harness h;
  h.fake.failNext("PUT vm", 500, "InternalServerError", "boom", 100);
  auto p = h.make(h.config());
  ASSERT_TRUE(p);
  auto inst = p->createInstance(request());
  ASSERT_FALSE(inst);
  EXPECT_EQ(h.fake.calls("PUT vm").size(), 6u);  // the retry policy's attempts
  EXPECT_EQ(h.fake.calls("DELETE vm").size(), 1u);
  EXPECT_EQ(h.fake.calls("DELETE nic").size(), 1u);
  EXPECT_EQ(h.fake.calls("DELETE disk").size(), 1u);
}

TEST(AzureDelete, DeletesAndWaitsAndNotFoundIsSuccess) {
  Harness h;
  auto p = h.make(h.config());
  ASSERT_TRUE(p);
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  size_t opsBefore = h.fake.calls("GET op").size();
  ASSERT_TRUE(p->deleteInstance(inst->id));
  EXPECT_EQ(h.fake.calls("GET op").size(), opsBefore + 3);
  EXPECT_TRUE(h.fake.vms().empty());
  EXPECT_TRUE(h.fake.nics().empty());
  // Already gone: 204 from Azure.
  EXPECT_TRUE(p->deleteInstance(inst->id));
  // 404 (the resource group is gone too).
  h.fake.failNext("DELETE vm", 404, "ResourceGroupNotFound",
                  "Resource group 'x' could not be found.");
  EXPECT_TRUE(p->deleteInstance(inst->id));
  // Ids are checked.
  auto bad = p->deleteInstance("i-0123456789");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Code::kInvalidArgument);
  EXPECT_FALSE(p->deleteInstance(
      "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/../x"));
  EXPECT_TRUE(h.fake.problems().empty()) << h.fake.problems().front();
}

TEST(AzureDelete, LocationHeaderPolling) {
  Harness h;
  auto p = h.make(h.config());
  ASSERT_TRUE(p);
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  h.fake.deleteWithLocationOnly = true;
  size_t before = h.fake.calls("GET op").size();
  ASSERT_TRUE(p->deleteInstance(inst->id));
  EXPECT_EQ(h.fake.calls("GET op").size(), before + 3);  // 202, 202, 200
  EXPECT_TRUE(h.fake.vms().empty());
  EXPECT_TRUE(h.fake.problems().empty()) << h.fake.problems().front();
}

TEST(AzureCreate, OperationTimeoutCleansUp) {
  Harness h;
  h.fake.pollsUntilDone = 1000;
  AzureConfig c = h.config();
  c.createTimeout = 25s;  // the fake asks for 10 s between polls
  auto p = h.make(c);
  ASSERT_TRUE(p);
  auto inst = p->createInstance(request());
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().code, Code::kDeadlineExceeded);
  EXPECT_NE(inst.error().message.find("did not finish within 25 s"), std::string::npos)
      << inst.error().message;
  // Three polls for the create; the cleanup's delete is then tried (and, as this fake never
  // finishes an operation, times out too, which the error says).
  EXPECT_EQ(h.fake.calls("GET op").size(), 6u);
  EXPECT_EQ(h.fake.calls("DELETE vm").size(), 1u);
  EXPECT_NE(inst.error().message.find("cleaning up VM podvm-nginx-01234567 failed"),
            std::string::npos)
      << inst.error().message;
}

TEST(AzureCreate, ConcurrentCreatesShareOneToken) {
  Harness h;
  auto p = h.make(h.config());
  ASSERT_TRUE(p);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      std::string sandbox = std::to_string(i) + "123456789abcdef";
      if (p->createInstance(request(sandbox))) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 6);
  EXPECT_EQ(h.fake.vms().size(), 6u);
  EXPECT_EQ(h.fake.calls("POST token").size(), 1u);
  EXPECT_EQ(h.fake.calls("GET sizes").size(), 1u);
  EXPECT_TRUE(h.fake.problems().empty()) << h.fake.problems().front();
}

TEST(AzureSizes, SelectionFromTheConfiguredList) {
  Harness h;
  AzureConfig c = h.config();
  c.sizes = {"Standard_DC2as_v5", "Standard_DC4as_v5", "Standard_DC8as_v5"};
  auto p = h.make(c);
  ASSERT_TRUE(p);
  CreateRequest req = request();
  req.spec.vcpus = 4;
  req.spec.memoryMiB = 12000;
  ASSERT_TRUE(p->createInstance(req));
  EXPECT_EQ(putBody(h.fake)["properties"]["hardwareProfile"]["vmSize"], "Standard_DC4as_v5");
  EXPECT_EQ(h.fake.calls("GET sizes").size(), 1u);

  CreateRequest other = request("fedcba9876543210");
  other.spec.instanceType = "Standard_D2s_v5";  // not in the list
  auto r = p->createInstance(other);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);

  CreateRequest big = request("aaaaaaaabbbbbbbb");
  big.spec.vcpus = 64;
  big.spec.memoryMiB = 1 << 20;
  EXPECT_FALSE(p->createInstance(big));

  AzureConfig d = h.config();
  d.sizes = {"Standard_DC2as_v5", "Standard_NoSuch_v9"};
  auto q = h.make(d);
  ASSERT_TRUE(q);
  auto st = q->verifyConfig();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("Standard_NoSuch_v9 is not offered in region eastus"),
            std::string::npos);
}

TEST(AzureImages, GalleryCommunityMarketplaceForms) {
  Harness h;
  auto p = h.make(h.config());
  ASSERT_TRUE(p);
  CreateRequest req = request();
  req.spec.image =
      "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/galleries/gal/images/podvm/"
      "versions/1.0.0";
  auto b = p->vmBody(req, kPubKey);
  ASSERT_TRUE(b);
  EXPECT_EQ((*b)["properties"]["storageProfile"]["imageReference"], json({{"id", req.spec.image}}));
  req.spec.image = "Canonical:0001-com-ubuntu-confidential-vm-jammy:22_04-lts-cvm:latest";
  b = p->vmBody(req, kPubKey);
  ASSERT_TRUE(b);
  EXPECT_EQ((*b)["properties"]["storageProfile"]["imageReference"]["offer"],
            "0001-com-ubuntu-confidential-vm-jammy");
  req.spec.image = "/SharedGalleries/abc-123/Images/podvm/Versions/latest";
  b = p->vmBody(req, kPubKey);
  ASSERT_TRUE(b);
  EXPECT_EQ((*b)["properties"]["storageProfile"]["imageReference"]["sharedGalleryImageId"],
            req.spec.image);
  req.spec.image = "just-a-name";
  EXPECT_FALSE(p->vmBody(req, kPubKey));
  req.spec.image.clear();
  req.userData = std::string(60000, 'x');  // over 64 KiB in base64
  auto big = p->vmBody(req, kPubKey);
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message.find("65536"), std::string::npos);
}

TEST(AzureList, ByTagAndVerifyConfig) {
  Harness h;
  auto p = h.make(h.config());
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->verifyConfig());
  ASSERT_TRUE(p->createInstance(request("1111111122222222")));
  ASSERT_TRUE(p->createInstance(request("3333333344444444")));
  auto all = p->listInstances("");
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all->size(), 2u);
  auto one = p->listInstances("3333333344444444");
  ASSERT_TRUE(one);
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].name, "podvm-nginx-33333333");
  EXPECT_TRUE(parseVmId((*one)[0].id));

  AzureConfig c = h.config();
  c.resourceGroup = "missing-rg";
  auto q = h.make(c);
  ASSERT_TRUE(q);
  auto st = q->verifyConfig();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("ResourceGroupNotFound"), std::string::npos)
      << st.error().message;
}

TEST(AzureSsh, GeneratedKeyIsOpenSshRsa) {
  auto k = generateSshPublicKey(2048);
  ASSERT_TRUE(k);
  EXPECT_TRUE(k->starts_with("ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB")) << *k;
  auto blob = encoding::base64Decode(k->substr(8));
  ASSERT_TRUE(blob);
  EXPECT_GT(blob->size(), 256u);
}

TEST(AzureLog, NoSecretsInTheLog) {
  Harness h;
  log::Level old = log::level();
  log::setLevel(log::Level::kDebug);
  ::testing::internal::CaptureStderr();
  {
    auto p = h.make(h.config());
    auto inst = p->createInstance(request());
    EXPECT_TRUE(inst);
    if (inst) {
      EXPECT_TRUE(p->deleteInstance(inst->id));
    }
    h.fake.failNext("POST token", 401, "invalid_client",
                    "AADSTS7000215: Invalid client secret provided.");
    AzureConfig c = h.config();
    c.clientSecret = "another-secret";
    EXPECT_FALSE(h.make(c)->verifyConfig());
    AzureConfig w = h.config();
    w.clientSecret.clear();
    w.federatedTokenFile = tempFile("federated-token2", "federated.jwt.token");
    EXPECT_TRUE(h.make(w)->verifyConfig());
  }
  std::string out = ::testing::internal::GetCapturedStderr();
  log::setLevel(old);
  EXPECT_FALSE(out.empty());
  EXPECT_EQ(out.find(testing::kClientSecret), std::string::npos);
  EXPECT_EQ(out.find("another-secret"), std::string::npos);
  EXPECT_EQ(out.find("federated.jwt.token"), std::string::npos);
  EXPECT_EQ(out.find("I2Nsb3VkLWNvbmZpZ"), std::string::npos);  // base64 user data
  for (const auto& t : h.fake.tokensIssued()) EXPECT_EQ(out.find(t), std::string::npos) << t;
}

TEST(AzureDelete, AGoneVmsLeftoverNicPublicIpAndDiskAreDeleted) {
  // A create failed and its cleanup could not finish (Azure refuses to delete a failed VM's NIC
  // for a while); the VM is gone but its NIC, public IP and disk stayed. peerpod-ctrl's delete
  // of the VM id removes them.
  Harness h;
  auto p = h.make(h.config());
  ASSERT_TRUE(p);
  const std::string name = "podvm-left-01234567";
  for (const char* kind : {"nic", "pip", "disk"})
    h.fake.addOrphan(kind, name + (std::string(kind) == "nic"   ? "-net"
                                   : std::string(kind) == "pip" ? "-ip"
                                                                : "-disk"));
  const std::string id = std::string("/subscriptions/") + testing::kSub + "/resourceGroups/" +
                         testing::kGroup + "/providers/Microsoft.Compute/virtualMachines/" + name;
  h.fake.failNext("DELETE nic", 400, "NicReservedForAnotherVm",
                  "Nic is reserved for VM " + name + ".");
  auto st = p->deleteInstance(id);
  ASSERT_FALSE(st);  // the reservation is reported, not swallowed
  EXPECT_NE(st.error().message.find("NicReservedForAnotherVm"), std::string::npos)
      << st.error().message;
  ASSERT_TRUE(p->deleteInstance(id));  // later: the reservation is over
  EXPECT_TRUE(h.fake.orphans().empty()) << h.fake.orphans().front();
  EXPECT_EQ(h.fake.calls("DELETE disk").size(), 1u);
  EXPECT_EQ(h.fake.calls("DELETE pip").size(), 1u);
  // Nothing left: still success, one 204 per resource.
  ASSERT_TRUE(p->deleteInstance(id));
  EXPECT_TRUE(h.fake.problems().empty()) << h.fake.problems().front();
}

}  // namespace
}  // namespace pp::providers::azure
