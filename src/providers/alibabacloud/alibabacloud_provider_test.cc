// The alibabacloud provider against the fake ECS/VPC/STS/metadata endpoints: flags, the requests
// it builds, sizing, error mapping and retries, cleanup after a failure at every create step,
// EIPs released after a restart, the credentials chain, and peerpod-ctrl's way of building the
// provider.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "base/encoding.h"
#include "providers/alibabacloud/testing/harness.h"
#include "providers/plugin_loader.h"
#include "providers/registry.h"
#include "providers/tags.h"
#include "providers/testing/requests.h"

namespace pp::providers::alibabacloud {
namespace {

using namespace std::chrono_literals;
using pp::providers::testing::nginxRequest;
using testing::AlibabaHarness;

void expectNoProblems(const AlibabaHarness& h) {
  auto p = h.fake.problems();
  EXPECT_TRUE(p.empty()) << p.front();
}

TEST(AlibabaFlags, UpstreamFlagsAndEnvironment) {
  AlibabaConfig c;
  flags::FlagSet fs("alibabacloud",
                    flags::mapEnv({{"REGION", "cn-shanghai"},
                                   {"IMAGEID", "m-1"},
                                   {"VSWITCH_ID", "vsw-1"},
                                   {"SECURITY_GROUP_IDS", "sg-1,sg-2"},
                                   {"TAGS", "team=a, env = b"},
                                   {"USE_PUBLIC_IP", "true"},
                                   {"DISABLECVM", "true"},
                                   {"SYSTEM_DISK_SIZE", "60"},
                                   {"KEYNAME", "kp"},
                                   {"PODVM_INSTANCE_TYPE", "ecs.g8i.large"},
                                   {"PODVM_INSTANCE_TYPES", "ecs.g8i.large,ecs.g8i.xlarge"},
                                   {"ALIBABACLOUD_ACCESS_KEY_ID", "ak"},
                                   {"ALIBABACLOUD_ACCESS_KEY_SECRET", "sk"},
                                   {"ALIBABACLOUD_SECURITY_TOKEN", "tok"}}));
  registerAlibabaFlags(fs, c);
  ASSERT_TRUE(fs.parse({"-vpc-id", "vpc-9"}));
  EXPECT_EQ(c.region, "cn-shanghai");
  EXPECT_EQ(c.imageId, "m-1");
  EXPECT_EQ(c.vswitchId, "vsw-1");
  EXPECT_EQ(c.securityGroupIds, (std::vector<std::string>{"sg-1", "sg-2"}));
  EXPECT_EQ(c.tags, (std::map<std::string, std::string>{{"team", "a"}, {"env", "b"}}));
  EXPECT_TRUE(c.usePublicIp);
  EXPECT_TRUE(c.disableCvm);
  EXPECT_EQ(c.systemDiskSize, 60);
  EXPECT_EQ(c.keyName, "kp");
  EXPECT_EQ(c.instanceType, "ecs.g8i.large");
  EXPECT_EQ(c.instanceTypes.size(), 2u);
  EXPECT_EQ(c.accessKeyId, "ak");
  EXPECT_EQ(c.secretKey, "sk");
  EXPECT_EQ(c.securityToken, "tok");
  EXPECT_EQ(c.vpcId, "vpc-9");
  for (const char* secret : {"alibabacloud-access-key-id", "alibabacloud-secret-access-key",
                             "alibabacloud-security-token"})
    EXPECT_TRUE(fs.lookup(secret)->isSecret()) << secret;
}

TEST(AlibabaFlags, DefaultsAreUpstreamsButNoRegionAsSecurityGroup) {
  AlibabaConfig c;
  flags::FlagSet fs("alibabacloud", flags::mapEnv({}));
  registerAlibabaFlags(fs, c);
  ASSERT_TRUE(fs.parse({}));
  EXPECT_EQ(c.region, "cn-beijing");
  EXPECT_EQ(c.instanceType, "ecs.g8i.xlarge");
  EXPECT_EQ(c.systemDiskSize, 40);
  EXPECT_FALSE(c.usePublicIp);
  EXPECT_FALSE(c.disableCvm);
  EXPECT_TRUE(c.securityGroupIds.empty());  // upstream: {"cn-beijing"}
  std::string help = fs.helpText();
  for (const char* f : {"alibabacloud-access-key-id", "alibabacloud-secret-access-key",
                        "alibabacloud-security-token", "region", "imageid", "instance-type",
                        "vswitch-id", "keyname", "use-public-ip", "system-disk-size", "disable-cvm",
                        "vpc-id", "security-group-ids", "tags", "instance-types"})
    EXPECT_TRUE(help.find("  -" + std::string(f) + " ") != std::string::npos ||
                help.find("  -" + std::string(f) + "\n") != std::string::npos)
        << f;
}

TEST(AlibabaEndpoints, RegionEndpointsAsTheSdksResolveThem) {
  EXPECT_EQ(ecsEndpointFor("cn-beijing"), "https://ecs.cn-beijing.aliyuncs.com");
  EXPECT_EQ(ecsEndpointFor("ap-southeast-1"), "https://ecs.ap-southeast-1.aliyuncs.com");
  EXPECT_EQ(ecsEndpointFor("cn-hangzhou"), "https://ecs-cn-hangzhou.aliyuncs.com");
  EXPECT_EQ(vpcEndpointFor("cn-beijing"), "https://vpc.cn-beijing.aliyuncs.com");
}

TEST(AlibabaProvider, RunInstancesIsUpstreamsRequest) {
  AlibabaHarness h;
  auto c = h.baseConfig();
  c.tags = {{"team", "peerpods"}};
  c.keyName = "kp-1";
  c.usePublicIp = true;
  auto p = h.make(c);
  ASSERT_TRUE(p);
  auto req = nginxRequest();
  auto inst = p->createInstance(req);
  ASSERT_TRUE(inst) << inst.error().message;
  expectNoProblems(h);
  auto runs = h.fake.calls("RunInstances");
  ASSERT_EQ(runs.size(), 1u);
  auto q = runs[0].params;
  EXPECT_EQ(q["RegionId"], "cn-beijing");
  EXPECT_EQ(q["Amount"], "1");
  EXPECT_EQ(q["MinAmount"], "1");
  EXPECT_EQ(q["ImageId"], "m-2zepodvmimage0001");
  EXPECT_EQ(q["InstanceType"], "ecs.g8i.xlarge");
  EXPECT_EQ(q["InstanceChargeType"], "PostPaid");
  EXPECT_EQ(q["SecurityGroupIds.1"], testing::kSg1);
  EXPECT_EQ(q["SecurityGroupIds.2"], testing::kSg2);
  EXPECT_EQ(q["VSwitchId"], testing::kVSwitch);
  EXPECT_EQ(encoding::base64Decode(q["UserData"]).value_or(""), req.userData);
  EXPECT_EQ(q["InstanceName"], req.instanceName);
  EXPECT_EQ(q["KeyPairName"], "kp-1");
  EXPECT_EQ(q["InternetChargeType"], "PayByTraffic");
  EXPECT_EQ(q["InternetMaxBandwidthOut"], "100");
  EXPECT_EQ(q["SecurityOptions.ConfidentialComputingMode"], "TDX");
  EXPECT_EQ(q["SystemDisk.Size"], "40");
  EXPECT_EQ(q["SystemDisk.Category"], "cloud_essd");
  EXPECT_FALSE(q["ClientToken"].empty());
  auto tags = h.fake.instances().at(inst->id).tags;
  EXPECT_EQ(tags["team"], "peerpods");
  EXPECT_EQ(tags[kTagSandbox], req.sandboxId);
  EXPECT_EQ(tags[kTagPod], "nginx");
  EXPECT_EQ(tags[kTagNamespace], "default");
  EXPECT_EQ(tags[kTagNode], "worker-1");
  // The public IP comes first, then the private one.
  ASSERT_EQ(inst->ips.size(), 2u);
  EXPECT_EQ(inst->ips[0].rfind("47.93.", 0), 0u);
  EXPECT_EQ(inst->ips[1].rfind("192.168.", 0), 0u);
  EXPECT_EQ(h.fake.calls("DescribeVSwitchAttributes").size(), 1u);
  for (const auto& call : h.fake.calls()) EXPECT_EQ(call.accessKeyId, testing::kAccessKeyId);
}

TEST(AlibabaProvider, DisableCvmAndNoDiskSizeLeaveThoseOut) {
  AlibabaHarness h;
  auto c = h.baseConfig();
  c.disableCvm = true;
  c.systemDiskSize = 0;
  auto p = h.make(c);
  ASSERT_TRUE(p);
  auto q = p->runInstancesParams(nginxRequest(), "tok");
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_FALSE(q->contains("SecurityOptions.ConfidentialComputingMode"));
  EXPECT_FALSE(q->contains("SystemDisk.Size"));
  EXPECT_FALSE(q->contains("InternetMaxBandwidthOut"));
  EXPECT_FALSE(q->contains("KeyPairName"));
}

TEST(AlibabaProvider, TheImageAnnotationAppliesToItsPodOnly) {
  AlibabaHarness h;
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  auto a = nginxRequest("aaaaaaaa00000001");
  a.spec.image = "m-annotated";
  auto ia = p->createInstance(a);
  ASSERT_TRUE(ia) << ia.error().message;
  auto ib = p->createInstance(nginxRequest("bbbbbbbb00000002"));
  ASSERT_TRUE(ib) << ib.error().message;
  auto runs = h.fake.calls("RunInstances");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].params["ImageId"], "m-annotated");
  EXPECT_EQ(runs[1].params["ImageId"], "m-2zepodvmimage0001");  // upstream: m-annotated
}

TEST(AlibabaProvider, SizingChoosesFromInstanceTypes) {
  AlibabaHarness h;
  auto c = h.baseConfig();
  c.instanceTypes = {"ecs.g8i.large", "ecs.g8i.xlarge", "ecs.g8i.2xlarge", "ecs.gn7i-c8g1.2xlarge"};
  auto p = h.make(c);
  ASSERT_TRUE(p);
  InstanceSpec s;
  s.vcpus = 3;
  s.memoryMiB = 8192;
  EXPECT_EQ(p->instanceTypeFor(s).value_or("?"), "ecs.g8i.xlarge");
  s.vcpus = 2;
  s.memoryMiB = 8192;
  EXPECT_EQ(p->instanceTypeFor(s).value_or("?"), "ecs.g8i.large");
  InstanceSpec g;
  g.gpus = 1;
  EXPECT_EQ(p->instanceTypeFor(g).value_or("?"), "ecs.gn7i-c8g1.2xlarge");
  InstanceSpec none;
  EXPECT_EQ(p->instanceTypeFor(none).value_or("?"), "ecs.g8i.xlarge");
  InstanceSpec named;
  named.instanceType = "ecs.c7.large";  // not in -instance-types
  EXPECT_FALSE(p->instanceTypeFor(named));
  s.vcpus = 64;
  s.memoryMiB = 1 << 20;
  EXPECT_FALSE(p->instanceTypeFor(s));
  auto d = h.fake.calls("DescribeInstanceTypes");
  ASSERT_EQ(d.size(), 1u);  // loaded once
  EXPECT_EQ(d[0].params["InstanceTypes.4"], "ecs.gn7i-c8g1.2xlarge");
  expectNoProblems(h);
}

TEST(AlibabaProvider, WithoutInstanceTypesOnlyTheDefaultCanBeChosen) {
  AlibabaHarness h;
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  InstanceSpec s;
  s.vcpus = 2;
  s.memoryMiB = 4096;
  EXPECT_EQ(p->instanceTypeFor(s).value_or("?"), "ecs.g8i.xlarge");
  s.vcpus = 16;
  s.memoryMiB = 65536;
  EXPECT_FALSE(p->instanceTypeFor(s));
}

TEST(AlibabaProvider, ThrottlingAnd5xxAreRetriedAndMakeOneInstance) {
  AlibabaHarness h;
  h.fake.failNext("RunInstances", 400, "Throttling.User",
                  "Request was denied due to user flow control.", 2);
  h.fake.failNext("DescribeInstances", 503, "ServiceUnavailable",
                  "The request has failed due to a temporary failure of the server.");
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  auto inst = p->createInstance(nginxRequest());
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_EQ(h.fake.count("RunInstances"), 3u);
  auto runs = h.fake.calls("RunInstances");
  EXPECT_EQ(runs[0].params["ClientToken"], runs[2].params["ClientToken"]);
  EXPECT_EQ(h.fake.instances().size(), 1u);
  EXPECT_GE(h.sleepCount(), 3u);
  expectNoProblems(h);
}

TEST(AlibabaProvider, ErrorsCarryAlibabasCodeMessageAndRequestId) {
  AlibabaHarness h;
  h.fake.failNext("RunInstances", 403, "Forbidden.RAM",
                  "User not authorized to operate on the specified resource.");
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  auto inst = p->createInstance(nginxRequest());
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().code, Code::kPermissionDenied);
  EXPECT_NE(inst.error().message.find("Forbidden.RAM: User not authorized"), std::string::npos)
      << inst.error().message;
  EXPECT_NE(inst.error().message.find("RequestId 6D5F3C1E-"), std::string::npos);
  EXPECT_EQ(h.fake.count("RunInstances"), 1u);       // a refusal is not retried
  EXPECT_EQ(h.fake.count("DescribeInstances"), 0u);  // and made nothing to look for
  EXPECT_TRUE(h.leftovers().empty());
}

TEST(AlibabaProvider, ALostRunInstancesAnswerLeavesNothingBehind) {
  AlibabaHarness h;
  h.fake.setCreateOnFailedRun(true);
  h.fake.failNext("RunInstances", 503, "ServiceUnavailable", "temporary failure", 20);
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  auto inst = p->createInstance(nginxRequest());
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().code, Code::kUnavailable);
  EXPECT_GT(h.fake.count("DeleteInstance"), 0u);
  EXPECT_TRUE(h.leftovers().empty()) << h.leftovers().front();
  expectNoProblems(h);
}

// -ext-network-via-podvm with -use-public-ip: a failure at every step after RunInstances
// deletes the instance, the extra NIC and the EIP.
TEST(AlibabaProvider, AFailureAtEveryCreateStepLeavesNothingBehind) {
  for (const char* step : {"DescribeVSwitchAttributes", "RunInstances", "DescribeInstances",
                           "CreateNetworkInterface", "AttachNetworkInterface",
                           "DescribeNetworkInterfaceAttribute", "ModifyNetworkInterfaceAttribute",
                           "AllocateEipAddress", "DescribeEipAddresses", "AssociateEipAddress"}) {
    SCOPED_TRACE(step);
    AlibabaHarness h;
    h.fake.failNext(step, 400, "InvalidParameter", std::string("scripted failure of ") + step);
    auto c = h.baseConfig();
    c.usePublicIp = true;
    auto p = h.make(c);
    ASSERT_TRUE(p);
    auto req = nginxRequest();
    req.spec.multiNic = true;
    auto inst = p->createInstance(req);
    ASSERT_FALSE(inst) << "the create was meant to fail";
    EXPECT_NE(inst.error().message.find(std::string("scripted failure of ") + step),
              std::string::npos)
        << inst.error().message;
    auto left = h.leftovers();
    EXPECT_TRUE(left.empty()) << left.front();
    expectNoProblems(h);
  }
}

TEST(AlibabaProvider, ExternalNicAndEipAreReleasedByARestartedProvider) {
  AlibabaHarness h;
  auto c = h.baseConfig();
  c.usePublicIp = true;
  std::string id;
  {
    auto p = h.make(c);
    ASSERT_TRUE(p);
    auto req = nginxRequest();
    req.spec.multiNic = true;
    auto inst = p->createInstance(req);
    ASSERT_TRUE(inst) << inst.error().message;
    id = inst->id;
    ASSERT_EQ(h.fake.nics().size(), 1u);
    ASSERT_EQ(h.fake.eips().size(), 1u);
    auto nic = h.fake.nics().begin()->second;
    EXPECT_EQ(nic.name, "peerpod-nic-" + id);
    EXPECT_EQ(nic.status, "InUse");
    EXPECT_TRUE(nic.deleteOnRelease);
    auto eip = h.fake.eips().begin()->second;
    EXPECT_EQ(eip.name, "peerpod-eip-" + id);
    EXPECT_EQ(eip.status, "InUse");
    EXPECT_EQ(eip.boundTo, nic.id);
    auto assoc = h.fake.calls("AssociateEipAddress");
    ASSERT_EQ(assoc.size(), 1u);
    EXPECT_EQ(assoc[0].params["InstanceType"], "NetworkInterface");
  }
  auto restarted = h.make(c);
  ASSERT_TRUE(restarted);
  auto st = restarted->deleteInstance(id);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_TRUE(h.leftovers().empty()) << h.leftovers().front();
  EXPECT_EQ(h.fake.count("UnassociateEipAddress"), 1u);
  EXPECT_EQ(h.fake.count("ReleaseEipAddress"), 1u);
  expectNoProblems(h);
}

TEST(AlibabaProvider, DeleteRetriesIncorrectStatusAndSucceedsWhenGone) {
  AlibabaHarness h;
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  auto inst = p->createInstance(nginxRequest());
  ASSERT_TRUE(inst) << inst.error().message;
  h.fake.failNext("DeleteInstance", 403, "IncorrectInstanceStatus",
                  "The current status of the resource does not support this operation.", 2);
  auto st = p->deleteInstance(inst->id);
  ASSERT_TRUE(st) << st.error().message;  // upstream reports its success as an error
  EXPECT_EQ(h.fake.count("DeleteInstance"), 3u);
  EXPECT_EQ(h.fake.calls("DeleteInstance")[0].params["Force"], "true");
  EXPECT_TRUE(h.fake.instances().empty());
  auto again = p->deleteInstance(inst->id);
  EXPECT_TRUE(again) << again.error().message;
  EXPECT_FALSE(p->deleteInstance("not-an-id"));
  h.fake.failNext("DeleteInstance", 403, "Forbidden.RAM", "no");
  auto inst2 = p->createInstance(nginxRequest("cccccccc00000003"));
  ASSERT_TRUE(inst2);
  auto denied = p->deleteInstance(inst2->id);
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, Code::kPermissionDenied);
  expectNoProblems(h);
}

TEST(AlibabaProvider, DeleteWorksWithoutTheNicAndEipActionsInThePolicy) {
  AlibabaHarness h;
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  auto inst = p->createInstance(nginxRequest());
  ASSERT_TRUE(inst);
  h.fake.failNext("DescribeEipAddresses", 403, "Forbidden.RAM", "User not authorized");
  h.fake.failNext("DescribeNetworkInterfaces", 403, "Forbidden.RAM", "User not authorized");
  auto st = p->deleteInstance(inst->id);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_TRUE(h.fake.instances().empty());
  // Any other failure of those lookups stops the delete (an EIP may be left otherwise).
  auto inst2 = p->createInstance(nginxRequest("eeeeeeee00000005"));
  ASSERT_TRUE(inst2);
  h.fake.failNext("DescribeEipAddresses", 400, "InvalidParameter", "bad");
  EXPECT_FALSE(p->deleteInstance(inst2->id));
  EXPECT_TRUE(p->deleteInstance(inst2->id));
}

TEST(AlibabaProvider, AStsTokenIsSentAndChecked) {
  AlibabaHarness h;
  h.fake.addAccessKey("STS.NUtemporary", "sts-secret", "CAIStoken==");
  auto c = h.baseConfig();
  c.accessKeyId = "STS.NUtemporary";
  c.secretKey = "sts-secret";
  c.securityToken = "CAIStoken==";
  auto p = h.make(c);
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->createInstance(nginxRequest()));
  expectNoProblems(h);
  for (const auto& call : h.fake.calls()) EXPECT_EQ(call.securityToken, "CAIStoken==");
  // Without its token the same key is refused.
  c.securityToken = "";
  auto bad = h.make(c);
  ASSERT_TRUE(bad);
  auto r = bad->createInstance(nginxRequest("dddddddd00000004"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kUnauthenticated);
  EXPECT_FALSE(h.fake.problems().empty());
}

TEST(AlibabaProvider, AWrongSecretIsRefusedBySignature) {
  AlibabaHarness h;
  auto c = h.baseConfig();
  c.secretKey = "not-the-secret";
  auto p = h.make(c);
  ASSERT_TRUE(p);
  auto r = p->createInstance(nginxRequest());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kUnauthenticated);
  EXPECT_NE(r.error().message.find("SignatureDoesNotMatch"), std::string::npos);
}

TEST(AlibabaCredentials, RrsaOidcExchangesTheTokenFileAtSts) {
  AlibabaHarness h;
  auto dir = std::filesystem::temp_directory_path() / ("pp-rrsa-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "token") << "eyJhbGciOiJSUzI1NiJ9.oidc.token\n";
  h.fake.setOidc("acs:ram::1234:role/peerpods", "acs:ram::1234:oidc-provider/ack-rrsa",
                 "eyJhbGciOiJSUzI1NiJ9.oidc.token",
                 {"STS.NUrrsa", "rrsa-secret", "CAISrrsa==", std::nullopt});
  auto c = h.baseConfig();
  c.accessKeyId.clear();
  c.secretKey.clear();
  auto p = h.make(c, {{"ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1234:role/peerpods"},
                      {"ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "acs:ram::1234:oidc-provider/ack-rrsa"},
                      {"ALIBABA_CLOUD_OIDC_TOKEN_FILE", (dir / "token").string()}});
  ASSERT_TRUE(p);
  auto inst = p->createInstance(nginxRequest());
  ASSERT_TRUE(inst) << inst.error().message;
  ASSERT_TRUE(p->deleteInstance(inst->id));
  EXPECT_EQ(h.fake.stsCalls(), 1);  // cached for every call
  for (const auto& call : h.fake.calls()) {
    EXPECT_EQ(call.accessKeyId, "STS.NUrrsa");
    EXPECT_EQ(call.securityToken, "CAISrrsa==");
  }
  expectNoProblems(h);
  std::filesystem::remove_all(dir);
}

TEST(AlibabaCredentials, EcsRamRoleIsFetchedAndRefreshedBeforeItExpires) {
  AlibabaHarness h;
  auto now =
      std::make_shared<std::chrono::system_clock::time_point>(std::chrono::system_clock::now());
  Clock clock = [now] { return *now; };
  h.fake.setClock(clock);
  h.fake.setRamRole("peerpods-node", {"STS.NUram1", "ram-secret-1", "CAISram1==", *now + 1h});
  auto c = h.baseConfig();
  c.accessKeyId.clear();
  c.secretKey.clear();
  auto d = h.deps();
  d.clock = clock;
  auto p = AlibabaProvider::create(c, d);
  ASSERT_TRUE(p) << p.error().message;
  auto inst = (*p)->createInstance(nginxRequest());
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_EQ(h.fake.metadataCredentialCalls(), 1);
  // 50 minutes later: within 15 minutes of expiry, so the next call fetches new credentials.
  h.fake.setRamRole("peerpods-node", {"STS.NUram2", "ram-secret-2", "CAISram2==", *now + 2h});
  *now += 50min;
  ASSERT_TRUE((*p)->deleteInstance(inst->id));
  EXPECT_EQ(h.fake.metadataCredentialCalls(), 2);
  EXPECT_EQ(h.fake.calls().back().accessKeyId, "STS.NUram2");
  expectNoProblems(h);
}

TEST(AlibabaCredentials, AnExpiredTokenIsFetchedAgain) {
  AlibabaHarness h;
  h.fake.setRamRole("r", {"STS.NUram1", "ram-secret-1", "CAISram1==", std::nullopt});
  auto c = h.baseConfig();
  c.accessKeyId.clear();
  c.secretKey.clear();
  auto p = h.make(c, {{"ALIBABA_CLOUD_ECS_METADATA", "r"}});
  ASSERT_TRUE(p);
  h.fake.failNext("DescribeInstances", 400, "InvalidSecurityToken.Expired",
                  "Specified SecurityToken is expired.");
  ASSERT_TRUE(p->listInstances(""));
  EXPECT_EQ(h.fake.metadataCredentialCalls(), 2);
}

TEST(AlibabaCredentials, NoCredentialsNamesWhatToSet) {
  AlibabaHarness h;
  auto c = h.baseConfig();
  c.accessKeyId.clear();
  c.secretKey.clear();
  auto p = AlibabaProvider::create(c, h.deps({{"ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true"}}));
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("ALIBABACLOUD_ACCESS_KEY_ID"), std::string::npos);
  c.secretKey = "only-the-secret";
  auto q = AlibabaProvider::create(c, h.deps());
  ASSERT_FALSE(q);
  EXPECT_NE(q.error().message.find("-alibabacloud-access-key-id"), std::string::npos);
}

TEST(AlibabaProvider, VerifyConfigChecksTheVSwitchAndTypes) {
  AlibabaHarness h;
  auto p = h.make(h.baseConfig());
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->verifyConfig());
  auto c = h.baseConfig();
  c.vpcId = "vpc-other";
  auto q = h.make(c);
  auto st = q->verifyConfig();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("vpc-other"), std::string::npos);
  c = h.baseConfig();
  c.vswitchId = "vsw-missing";
  st = h.make(c)->verifyConfig();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("InvalidVSwitchId.NotFound"), std::string::npos);
  c = h.baseConfig();
  c.instanceType = "ecs.unknown";
  st = h.make(c)->verifyConfig();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("ecs.unknown"), std::string::npos);
}

// peerpod-ctrl builds the provider from peer-pods-cm and peer-pods-secret alone (their keys are
// its environment) and deletes a leaked instance by id.
TEST(AlibabaPeerpodCtrl, BuildsFromTheConfigMapAndDeletesALeakedInstance) {
  AlibabaHarness h;
  std::string id;
  {
    auto p = h.make(h.baseConfig());
    ASSERT_TRUE(p);
    auto inst = p->createInstance(nginxRequest());
    ASSERT_TRUE(inst);
    id = inst->id;
  }
  auto env =
      flags::mapEnv({{"CLOUD_PROVIDER", "alibabacloud"},
                     {"REGION", testing::kRegion},
                     {"IMAGEID", "m-2zepodvmimage0001"},
                     {"VSWITCH_ID", testing::kVSwitch},
                     {"SECURITY_GROUP_IDS", std::string(testing::kSg1) + "," + testing::kSg2},
                     {"PODVM_INSTANCE_TYPE", "ecs.g8i.xlarge"},
                     {"DISABLECVM", "false"},
                     {"ALIBABACLOUD_ACCESS_KEY_ID", testing::kAccessKeyId},
                     {"ALIBABACLOUD_ACCESS_KEY_SECRET", testing::kAccessKeySecret},
                     {"ALIBABACLOUD_ECS_ENDPOINT", h.fake.url()},
                     {"ALIBABACLOUD_VPC_ENDPOINT", h.fake.url()}});
  auto setup = providers::lookupProvider("alibabacloud", providers::registry(), env);
  ASSERT_TRUE(setup) << setup.error().message;
  flags::FlagSet fs("peerpod-ctrl", env);
  (*setup)->registerFlags(fs);
  ASSERT_TRUE(fs.validate());
  auto provider = (*setup)->build();
  ASSERT_TRUE(provider) << provider.error().message;
  auto st = (*provider)->deleteInstance(id);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_TRUE(h.leftovers().empty());
  expectNoProblems(h);
}

}  // namespace
}  // namespace pp::providers::alibabacloud
