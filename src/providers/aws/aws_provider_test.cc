// The aws provider against the in-process fake EC2/IMDS (fake_aws.h): request parameters,
// polling, deletion, retries, rate limiting, cleanup after a failed create, IMDS defaults,
// endpoint overrides, and the parameters checked against botocore's EC2 model.
#include "providers/aws/aws_provider.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "base/encoding.h"
#include "base/files.h"
#include "providers/aws/aws_test_harness.h"
#include "providers/aws/endpoints.h"
#include "providers/aws/fake_aws.h"
#include "providers/testing/requests.h"

namespace pp::providers::aws {
namespace {

using testing::FakeAws;
using testing::RecordedCall;
using namespace std::chrono_literals;

using testing::Harness;
using testing::kKey;
using testing::kSecret;

CreateRequest request(const std::string& sandbox = "0123456789abcdef") {
  return providers::testing::nginxRequest(sandbox);
}

TEST(AwsFlags, UpstreamFlagsWithDefaultsAndEnv) {
  AwsConfig c;
  flags::FlagSet fs("aws", flags::mapEnv({{"AWS_SG_IDS", "sg-1,sg-2"},
                                          {"PODVM_AMI_ID", "ami-1"},
                                          {"TAGS", "a=b, c=d"},
                                          {"USE_PUBLIC_IP", "true"},
                                          {"ROOT_VOLUME_SIZE", "50"}}));
  registerAwsFlags(fs, c);
  for (const char* f : {"aws-access-key-id", "aws-secret-key", "aws-session-token", "aws-region",
                        "aws-profile", "instance-type", "instance-types", "imageid", "aws-lt-name",
                        "use-lt", "keyname", "subnetid", "securitygroupids", "use-public-ip",
                        "disable-cvm", "root-volume-size", "tags", "aws-api-rate"}) {
    EXPECT_NE(fs.lookup(f), nullptr) << f;
  }
  EXPECT_EQ(c.instanceType, "m6a.large");
  EXPECT_EQ(c.launchTemplateName, "kata");
  EXPECT_EQ(c.securityGroupIds, (std::vector<std::string>{"sg-1", "sg-2"}));
  EXPECT_EQ(c.imageId, "ami-1");
  EXPECT_EQ(c.tags.at("c"), "d");
  EXPECT_TRUE(c.usePublicIp);
  EXPECT_EQ(c.rootVolumeSize, 50);
  EXPECT_DOUBLE_EQ(c.mutatingCallsPerSecond, 2);
  EXPECT_TRUE(fs.lookup("aws-secret-key")->isSecret());
  EXPECT_NE(fs.helpText().find("(env AWS_SECRET_ACCESS_KEY)"), std::string::npos);
  ASSERT_TRUE(fs.parse({"-imageid", "ami-2", "-instance-types", "t2.medium,p3.8xlarge"}));
  EXPECT_EQ(c.imageId, "ami-2");
  EXPECT_EQ(c.instanceTypes.size(), 2u);
}

TEST(AwsProvider, CreateSendsTheDocumentedRunInstancesParameters) {
  Harness h;
  auto p = h.make(h.config());
  ASSERT_TRUE(p);
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_EQ(inst->name, "podvm-nginx-01234567");
  ASSERT_EQ(inst->ips.size(), 1u);
  EXPECT_EQ(inst->ips[0], "10.0.0.11");
  EXPECT_TRUE(h.fake.problems().empty()) << h.fake.problems()[0];

  auto runs = h.fake.calls("RunInstances");
  ASSERT_EQ(runs.size(), 1u);
  const RecordedCall& r = runs[0];
  EXPECT_EQ(r.accessKey, kKey);
  EXPECT_EQ(r.param("ImageId"), "ami-0123456789abcdef0");
  EXPECT_EQ(r.param("InstanceType"), "m6a.large");
  EXPECT_EQ(r.param("SubnetId"), "subnet-0bb1c79de3EXAMPLE");
  EXPECT_EQ(r.param("SecurityGroupId.1"), "sg-0598c7d356EXAMPLE");
  EXPECT_EQ(r.param("SecurityGroupId.2"), "sg-0aaaaaaaaaEXAMPLE");
  EXPECT_EQ(r.param("KeyName"), "peerpods-key");
  EXPECT_EQ(r.param("MinCount"), "1");
  EXPECT_EQ(r.param("MaxCount"), "1");
  EXPECT_EQ(encoding::base64Decode(r.param("UserData")).value_or(""), request().userData);
  EXPECT_EQ(r.param("CpuOptions.AmdSevSnp"), "enabled");
  EXPECT_EQ(r.param("BlockDeviceMapping.1.DeviceName"), "/dev/xvda");
  EXPECT_EQ(r.param("BlockDeviceMapping.1.Ebs.VolumeSize"), "30");  // max(configured 30, image 8)
  EXPECT_EQ(r.param("BlockDeviceMapping.1.Ebs.DeleteOnTermination"), "true");
  // IMDSv2 only unless configured otherwise (upstream leaves IMDSv1 on).
  EXPECT_EQ(r.param("MetadataOptions.HttpTokens"), "required");
  EXPECT_EQ(r.param("ClientToken").rfind("pp-0123456789abcdef-", 0), 0u);
  EXPECT_EQ(r.param("TagSpecification.1.ResourceType"), "instance");
  auto tags = h.fake.instances().begin()->second.tags;
  EXPECT_EQ(tags["Name"], "podvm-nginx-01234567");
  EXPECT_EQ(tags[kTagSandbox], "0123456789abcdef");
  EXPECT_EQ(tags[kTagPod], "nginx");
  EXPECT_EQ(tags[kTagNamespace], "default");
  EXPECT_EQ(tags[kTagNode], "worker-1");
  // The IP was not in the RunInstances answer: DescribeInstances until it appeared.
  EXPECT_GE(h.fake.calls("DescribeInstances").size(), 1u);
  EXPECT_EQ(h.fake.calls("DescribeInstances")[0].param("InstanceId.1"), inst->id);
  EXPECT_EQ(h.fake.calls("DescribeInstanceTypes")[0].param("InstanceType.1"), "m6a.large");
  EXPECT_EQ(h.fake.calls("DescribeImages")[0].param("ImageId.1"), "ami-0123456789abcdef0");
}

TEST(AwsProvider, NoPollingWhenRunInstancesReportsThePrivateIp) {
  Harness h;
  h.fake.runReportsPrivateIp = true;
  auto p = h.make(h.config());
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_EQ(inst->ips[0], "10.0.0.11");
  EXPECT_TRUE(h.fake.calls("DescribeInstances").empty());
}

TEST(AwsProvider, LargerImageRootVolumeWinsAndOptionsApply) {
  Harness h;
  h.fake.rootVolumeGiB = 64;
  AwsConfig c = h.config();
  c.disableCvm = true;
  c.metadataHttpTokens = "optional";
  c.tags = {{"team", "coco"}};
  auto p = h.make(c);
  ASSERT_TRUE(p->createInstance(request()));
  auto r = h.fake.calls("RunInstances")[0];
  EXPECT_EQ(r.param("BlockDeviceMapping.1.Ebs.VolumeSize"), "64");
  EXPECT_FALSE(r.has("CpuOptions.AmdSevSnp"));
  EXPECT_EQ(r.param("MetadataOptions.HttpTokens"), "optional");
  EXPECT_EQ(r.param("MetadataOptions.HttpEndpoint"), "enabled");
  EXPECT_EQ(h.fake.instances().begin()->second.tags["team"], "coco");
}

TEST(AwsProvider, InstanceTypeSelectionUsesDescribeInstanceTypes) {
  Harness h;
  AwsConfig c = h.config();
  c.instanceTypes = {"t2.medium", "m6a.large", "m6a.xlarge", "p3.8xlarge"};
  auto p = h.make(c);
  auto req = request();
  req.spec.vcpus = 3;
  req.spec.memoryMiB = 8000;
  ASSERT_TRUE(p->createInstance(req));
  req.spec = {};
  req.spec.gpus = 2;
  ASSERT_TRUE(p->createInstance(request("1111111111111111")));  // no spec: the default type
  auto withGpu = request("2222222222222222");
  withGpu.spec.gpus = 2;
  ASSERT_TRUE(p->createInstance(withGpu));
  auto runs = h.fake.calls("RunInstances");
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].param("InstanceType"), "m6a.xlarge");
  EXPECT_EQ(runs[1].param("InstanceType"), "m6a.large");
  EXPECT_EQ(runs[2].param("InstanceType"), "p3.8xlarge");
  // One DescribeInstanceTypes for all listed types, done once.
  auto dit = h.fake.calls("DescribeInstanceTypes");
  ASSERT_EQ(dit.size(), 1u);
  EXPECT_EQ(dit[0].param("InstanceType.4"), "p3.8xlarge");
  // A type outside the list is refused before anything is created.
  auto bad = request("3333333333333333");
  bad.spec.instanceType = "x2iedn.32xlarge";
  auto r = p->createInstance(bad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_EQ(h.fake.calls("RunInstances").size(), 3u);
}

TEST(AwsProvider, PublicIpUsesANetworkInterfaceAndWaitsForTheAddress) {
  Harness h;
  AwsConfig c = h.config();
  c.usePublicIp = true;
  h.fake.runReportsPrivateIp = true;  // a private IP alone is not enough
  h.fake.describesUntilAddress = 3;
  auto p = h.make(c);
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_EQ(inst->ips, (std::vector<std::string>{"198.18.0.11"}));
  auto r = h.fake.calls("RunInstances")[0];
  EXPECT_FALSE(r.has("SubnetId"));
  EXPECT_FALSE(r.has("SecurityGroupId.1"));
  EXPECT_EQ(r.param("NetworkInterface.1.DeviceIndex"), "0");
  EXPECT_EQ(r.param("NetworkInterface.1.AssociatePublicIpAddress"), "true");
  EXPECT_EQ(r.param("NetworkInterface.1.SubnetId"), "subnet-0bb1c79de3EXAMPLE");
  EXPECT_EQ(r.param("NetworkInterface.1.SecurityGroupId.2"), "sg-0aaaaaaaaaEXAMPLE");
  EXPECT_EQ(r.param("NetworkInterface.1.DeleteOnTermination"), "true");
  EXPECT_EQ(h.fake.calls("DescribeInstances").size(), 3u);
}

TEST(AwsProvider, SecondInterfaceForExtNetworkViaPodVm) {
  Harness h;
  auto p = h.make(h.config());
  auto req = request();
  req.spec.multiNic = true;
  auto inst = p->createInstance(req);
  ASSERT_TRUE(inst) << inst.error().message;
  auto create = h.fake.calls("CreateNetworkInterface");
  ASSERT_EQ(create.size(), 1u);
  EXPECT_EQ(create[0].param("SubnetId"), "subnet-0bb1c79de3EXAMPLE");
  EXPECT_EQ(create[0].param("SecurityGroupId.2"), "sg-0aaaaaaaaaEXAMPLE");
  EXPECT_EQ(create[0].param("TagSpecification.1.ResourceType"), "network-interface");
  EXPECT_EQ(create[0].param("TagSpecification.1.Tag.1.Value"), "nic-" + inst->id);
  auto attach = h.fake.calls("AttachNetworkInterface");
  ASSERT_EQ(attach.size(), 1u);
  EXPECT_EQ(attach[0].param("DeviceIndex"), "1");
  EXPECT_EQ(attach[0].param("InstanceId"), inst->id);
  auto nics = h.fake.nics();
  ASSERT_EQ(nics.size(), 1u);
  EXPECT_EQ(nics.begin()->second.instanceId, inst->id);
  EXPECT_TRUE(nics.begin()->second.deleteOnTermination);
  EXPECT_TRUE(h.fake.calls("AllocateAddress").empty());
  ASSERT_TRUE(p->deleteInstance(inst->id));
  EXPECT_TRUE(h.fake.nics().empty());
  EXPECT_EQ(h.fake.calls("DescribeAddresses").back().param("Filter.1.Value.1"), inst->id);
}

TEST(AwsProvider, SecondInterfaceWithElasticIpIsReleasedOnDelete) {
  Harness h;
  AwsConfig c = h.config();
  c.usePublicIp = true;
  auto p = h.make(c);
  auto req = request();
  req.spec.multiNic = true;
  auto inst = p->createInstance(req);
  ASSERT_TRUE(inst) << inst.error().message;
  ASSERT_EQ(h.fake.calls("AllocateAddress").size(), 1u);
  EXPECT_EQ(h.fake.calls("AllocateAddress")[0].param("Domain"), "vpc");
  EXPECT_EQ(h.fake.calls("AllocateAddress")[0].param("TagSpecification.1.Tag.1.Value"),
            "eip-" + inst->id);
  auto addresses = h.fake.addresses();
  ASSERT_EQ(addresses.size(), 1u);
  EXPECT_EQ(addresses.begin()->second.nicId, h.fake.nics().begin()->first);
  ASSERT_TRUE(p->deleteInstance(inst->id));
  EXPECT_EQ(h.fake.calls("DisassociateAddress").size(), 1u);
  EXPECT_TRUE(h.fake.addresses().empty());
  EXPECT_TRUE(h.fake.nics().empty());
}

TEST(AwsProvider, SecondInterfaceFailuresLeaveNothingBehind) {
  Harness h;
  AwsConfig c = h.config();
  c.usePublicIp = true;
  auto p = h.make(c);
  auto req = request();
  req.spec.multiNic = true;
  h.fake.failNext("AttachNetworkInterface", 400, "AttachmentLimitExceeded",
                  "Interface count 3 exceeds the limit for m6a.large");
  auto r = p->createInstance(req);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("AttachmentLimitExceeded"), std::string::npos);
  EXPECT_TRUE(h.fake.nics().empty());  // the unattached interface was deleted
  for (const auto& [id, i] : h.fake.instances()) EXPECT_EQ(i.state, "terminated");

  h.fake.failNext("AssociateAddress", 400, "InvalidParameterValue", "bad association");
  auto r2 = p->createInstance(request("8888888888888888"));
  ASSERT_TRUE(r2);  // no second interface asked: no Elastic IP either
  auto req3 = request("9999999999999999");
  req3.spec.multiNic = true;
  auto r3 = p->createInstance(req3);
  ASSERT_FALSE(r3);
  EXPECT_NE(r3.error().message.find("AssociateAddress"), std::string::npos);
  EXPECT_TRUE(h.fake.addresses().empty());  // released
  EXPECT_TRUE(h.fake.nics().empty());       // deleted with the terminated instance

  AwsConfig lt = h.config();
  lt.useLaunchTemplate = true;
  EXPECT_EQ(h.make(lt)->createInstance(req).error().code, Code::kInvalidArgument);
}

TEST(AwsProvider, LaunchTemplateModeSendsOnlyTheTemplate) {
  Harness h;
  AwsConfig c = h.config();
  c.useLaunchTemplate = true;
  c.launchTemplateName = "kata";
  auto p = h.make(c);
  ASSERT_TRUE(p->createInstance(request()));
  auto r = h.fake.calls("RunInstances")[0];
  EXPECT_EQ(r.param("LaunchTemplate.LaunchTemplateName"), "kata");
  for (const char* absent :
       {"ImageId", "InstanceType", "SubnetId", "KeyName", "CpuOptions.AmdSevSnp"}) {
    EXPECT_FALSE(r.has(absent)) << absent;
  }
  EXPECT_TRUE(r.has("UserData"));
  EXPECT_TRUE(r.has("TagSpecification.1.Tag.1.Key"));
}

TEST(AwsProvider, DeleteTerminatesAndUnknownInstancesAreGone) {
  Harness h;
  auto p = h.make(h.config());
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst);
  ASSERT_TRUE(p->deleteInstance(inst->id));
  EXPECT_EQ(h.fake.instances().at(inst->id).state, "terminated");
  EXPECT_TRUE(p->deleteInstance(inst->id));               // already gone
  EXPECT_TRUE(p->deleteInstance("i-0000000000000dead"));  // never existed
  h.fake.failNext("TerminateInstances", 403, "UnauthorizedOperation",
                  "You are not authorized to perform this operation. Encoded authorization failure "
                  "message: abc");
  auto st = p->deleteInstance("i-0123");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Code::kPermissionDenied);
  EXPECT_NE(st.error().message.find(
                "UnauthorizedOperation: You are not authorized to perform this operation"),
            std::string::npos);
}

TEST(AwsProvider, ThrottlingAnd5xxAreRetriedWithTheSameClientToken) {
  Harness h;
  auto p = h.make(h.config());
  h.fake.failNext("RunInstances", 503, "RequestLimitExceeded", "Request limit exceeded.", 2);
  h.fake.failNext("RunInstances", 500, "InternalError", "An internal error has occurred.");
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  auto runs = h.fake.calls("RunInstances");
  ASSERT_EQ(runs.size(), 4u);
  for (const auto& r : runs) EXPECT_EQ(r.param("ClientToken"), runs[0].param("ClientToken"));
  EXPECT_EQ(h.fake.instances().size(), 1u);
  EXPECT_EQ(h.sleeps.load(), 3);
}

TEST(AwsProvider, LostRunInstancesAnswersNeitherDuplicateNorLeak) {
  Harness h;
  auto p = h.make(h.config());
  // The instance starts but the answer is lost twice: the retries with the same ClientToken get
  // the same instance back.
  h.fake.loseRunAnswers = 2;
  auto inst = p->createInstance(request());
  ASSERT_TRUE(inst) << inst.error().message;
  EXPECT_EQ(h.fake.calls("RunInstances").size(), 3u);
  EXPECT_EQ(h.fake.instances().size(), 1u);
  // Every answer is lost: the create fails, and the instance it started is found by its client
  // token and terminated.
  h.fake.loseRunAnswers = 100;
  auto lost = p->createInstance(request("7777777777777777"));
  ASSERT_FALSE(lost);
  EXPECT_NE(lost.error().message.find("InternalError"), std::string::npos);
  auto instances = h.fake.instances();
  ASSERT_EQ(instances.size(), 2u);
  int terminated = 0;
  for (const auto& [id, i] : instances) {
    if (i.tags.at(kTagSandbox) == "7777777777777777") {
      EXPECT_EQ(i.state, "terminated");
      ++terminated;
    }
  }
  EXPECT_EQ(terminated, 1);
  auto lookups = h.fake.calls("DescribeInstances");
  ASSERT_FALSE(lookups.empty());
  EXPECT_EQ(lookups.back().param("Filter.1.Name"), "client-token");
}

TEST(AwsProvider, ClockSkewIsCorrectedFromAwsAnswers) {
  Harness h;
  h.fake.clockOffsetSeconds = 3600;  // this machine's clock is an hour behind
  auto p = h.make(h.config());
  ASSERT_TRUE(p->createInstance(request())) << "clock skew not corrected";
  EXPECT_EQ(h.fake.calls("DescribeInstanceTypes (expired)").size(),
            1u);  // one refusal, then AWS's time
  EXPECT_TRUE(h.fake.calls("RunInstances (expired)").empty());
  EXPECT_EQ(h.sleptMs.load(), 0);  // retried at once
}

TEST(AwsProvider, AwsErrorsReachTheCallerUnchanged) {
  Harness h;
  auto p = h.make(h.config());
  h.fake.failNext("RunInstances", 400, "InsufficientInstanceCapacity",
                  "We currently do not have sufficient m6a.large capacity in the Availability Zone "
                  "you requested.");
  auto r = p->createInstance(request());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kResourceExhausted);
  EXPECT_NE(r.error().message.find(
                "InsufficientInstanceCapacity: We currently do not have sufficient m6a.large "
                "capacity in the Availability Zone you requested."),
            std::string::npos)
      << r.error().message;
  EXPECT_EQ(h.fake.calls("RunInstances").size(), 1u);  // not retried
  // Throttling that never ends gives up with the AWS error.
  h.fake.failNext("RunInstances", 503, "RequestLimitExceeded", "Request limit exceeded.", 10);
  auto t = p->createInstance(request());
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, Code::kUnavailable);
  EXPECT_NE(t.error().message.find("RequestLimitExceeded"), std::string::npos);
}

TEST(AwsProvider, BadImageIsReportedByVerifyAndCreate) {
  Harness h;
  AwsConfig c = h.config();
  c.imageId = "ami-missing";
  auto p = h.make(c);
  auto st = p->verifyConfig();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Code::kNotFound);
  EXPECT_NE(st.error().message.find("InvalidAMIID.NotFound"), std::string::npos);
  EXPECT_FALSE(p->createInstance(request()));
  EXPECT_TRUE(h.fake.calls("RunInstances").empty());
  AwsConfig ok = h.config();
  EXPECT_TRUE(h.make(ok)->verifyConfig());
  AwsConfig none = h.config();
  none.imageId = "";
  EXPECT_FALSE(h.make(none)->verifyConfig());
}

TEST(AwsProvider, FailedCreateAfterRunInstancesTerminatesTheInstance) {
  Harness h;
  h.fake.instanceDiesOnBoot = true;
  auto p = h.make(h.config());
  auto r = p->createInstance(request());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("Internal error on launch"), std::string::npos)
      << r.error().message;
  // The instance was terminated: TerminateInstances was called for it (it was already
  // terminated, which counts as success).
  auto terms = h.fake.calls("TerminateInstances");
  ASSERT_EQ(terms.size(), 1u);
  EXPECT_EQ(terms[0].param("InstanceId.1"), h.fake.instances().begin()->first);
}

TEST(AwsProvider, AddressTimeoutTerminatesTheInstance) {
  Harness h;
  h.fake.describesUntilAddress = 1000000;
  AwsConfig c = h.config();
  c.ipTimeout = 60ms;
  auto p = h.make(c);
  auto r = p->createInstance(request());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kDeadlineExceeded);
  ASSERT_EQ(h.fake.calls("TerminateInstances").size(), 1u);
  EXPECT_EQ(h.fake.instances().begin()->second.state, "terminated");
}

TEST(AwsProvider, ListsInstancesByTag) {
  Harness h;
  auto p = h.make(h.config());
  auto a = p->createInstance(request("aaaaaaaaaaaaaaaa"));
  auto b = p->createInstance(request("bbbbbbbbbbbbbbbb"));
  ASSERT_TRUE(a && b);
  auto all = p->listInstances("");
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all->size(), 2u);
  auto one = p->listInstances("bbbbbbbbbbbbbbbb");
  ASSERT_TRUE(one);
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].id, b->id);
  EXPECT_EQ((*one)[0].name, "podvm-nginx-bbbbbbbb");
  ASSERT_TRUE(p->deleteInstance(a->id));
  EXPECT_EQ(p->listInstances("")->size(), 1u);
}

TEST(AwsProvider, ListingFollowsNextToken) {
  Harness h;
  h.fake.runReportsPrivateIp = true;
  h.fake.pageSize = 2;
  auto p = h.make(h.config());
  for (const char* sb : {"1111111111111111", "2222222222222222", "3333333333333333",
                         "4444444444444444", "5555555555555555"}) {
    ASSERT_TRUE(p->createInstance(request(sb)));
  }
  auto all = p->listInstances("");
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all->size(), 5u);
  auto calls = h.fake.calls("DescribeInstances");
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_FALSE(calls[0].has("NextToken"));
  EXPECT_EQ(calls[0].param("MaxResults"), "500");
  EXPECT_EQ(calls[1].param("NextToken"), (*all)[1].id);
  std::set<std::string> ids;
  for (const auto& i : *all) ids.insert(i.id);
  EXPECT_EQ(ids.size(), 5u);
}

TEST(AwsProvider, ConcurrentCreatesAndDeletes) {
  Harness h;
  AwsConfig c = h.config();
  c.instanceTypes = {"t2.medium", "m6a.large", "m6a.xlarge"};
  auto p = h.make(c);
  constexpr int kPods = 16;
  std::vector<std::thread> threads;
  std::vector<std::string> ids(kPods);
  std::atomic<int> failures{0};
  for (int i = 0; i < kPods; ++i) {
    threads.emplace_back([&, i] {
      char sandbox[17];
      std::snprintf(sandbox, sizeof sandbox, "%016x", 0xc0ffee00 + i);
      auto inst = p->createInstance(request(sandbox));
      if (!inst) {
        ++failures;
        return;
      }
      ids[i] = inst->id;
      if (i % 2 == 0 && !p->deleteInstance(inst->id)) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<std::string> unique(ids.begin(), ids.end());
  EXPECT_EQ(unique.size(), static_cast<size_t>(kPods));
  EXPECT_EQ(h.fake.instances().size(), static_cast<size_t>(kPods));
  EXPECT_EQ(h.fake.calls("DescribeInstanceTypes").size(), 1u);  // looked up once, shared
  EXPECT_EQ(p->listInstances("")->size(), static_cast<size_t>(kPods / 2));
  EXPECT_TRUE(h.fake.problems().empty());
}

TEST(AwsProvider, MutatingCallsAreRateLimited) {
  Harness h;
  AwsConfig c = h.config();
  c.mutatingCallsPerSecond = 20;  // burst of 20, then one every 50 ms
  auto p = h.make(c);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(p->deleteInstance("i-" + std::to_string(i)));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 400ms);  // 10 calls beyond the burst at 20/s
  // Reads are not limited: with the bucket drained, 10 limited calls would need 500 ms.
  start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(p->listInstances(""));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 450ms);
}

TEST(AwsProvider, RegionAndNetworkDefaultsFromImds) {
  Harness h;
  h.fake.region = "eu-west-3";
  h.fake.imds["meta-data/placement/region"] = "eu-west-3";
  h.fake.imds["meta-data/mac"] = "0e:49:61:0f:c3:11";
  h.fake.imds["meta-data/network/interfaces/macs/0e:49:61:0f:c3:11/subnet-id"] = "subnet-from-imds";
  h.fake.imds["meta-data/network/interfaces/macs/0e:49:61:0f:c3:11/security-group-ids"] =
      "sg-a\nsg-b";
  h.fake.imds["meta-data/public-keys/"] = "0=node-key";
  AwsConfig c = h.config();
  c.region = "";
  c.subnetId = "";
  c.securityGroupIds = {};
  c.keyName = "";
  auto p = h.make(c);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->config().region, "eu-west-3");
  EXPECT_EQ(p->config().subnetId, "subnet-from-imds");
  EXPECT_EQ(p->config().securityGroupIds, (std::vector<std::string>{"sg-a", "sg-b"}));
  EXPECT_EQ(p->config().keyName, "node-key");
  ASSERT_TRUE(p->createInstance(request()));  // signed for eu-west-3, or the fake refuses it
  EXPECT_TRUE(h.fake.problems().empty());
  EXPECT_GE(h.fake.imdsTokens.load(), 1);
}

TEST(AwsProvider, NoRegionIsAClearError) {
  Harness h;
  h.env["AWS_EC2_METADATA_DISABLED"] = "true";
  AwsConfig c = h.config();
  c.region = "";
  AwsDependencies d;
  d.env = flags::mapEnv(h.env);
  auto p = AwsProvider::create(c, d);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("AWS_REGION"), std::string::npos);
}

TEST(AwsEndpoints, ServiceVariableBeatsGlobalAndDefaultsAreRegional) {
  Harness h;
  h.env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1";  // nothing listens there
  h.env["AWS_ENDPOINT_URL_EC2"] = h.fake.url();
  auto p = h.make(h.config());
  EXPECT_EQ(p->ec2Endpoint(), h.fake.url());
  EXPECT_EQ(p->stsEndpoint(), "http://127.0.0.1:1");
  ASSERT_TRUE(p->createInstance(request()));

  auto env = [](std::map<std::string, std::string> m) { return flags::mapEnv(std::move(m)); };
  EXPECT_EQ(resolveEndpoint("ec2", "us-east-2", env({})).value(),
            "https://ec2.us-east-2.amazonaws.com");
  EXPECT_EQ(resolveEndpoint("sts", "cn-north-1", env({})).value(),
            "https://sts.cn-north-1.amazonaws.com.cn");
  EXPECT_EQ(
      resolveEndpoint("sts", "us-east-1", env({{"AWS_ENDPOINT_URL_STS", "https://vpce.example/"}}))
          .value(),
      "https://vpce.example");
  EXPECT_EQ(resolveEndpoint("ec2", "us-east-1",
                            env({{"AWS_ENDPOINT_URL", "http://localstack:4566"},
                                 {"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"}}))
                .value(),
            "https://ec2.us-east-1.amazonaws.com");
  EXPECT_EQ(resolveEndpoint("ec2", "us-east-1", env({}), "http://from-profile:4566").value(),
            "http://from-profile:4566");
  EXPECT_FALSE(resolveEndpoint("ec2", "", env({})));
  EXPECT_FALSE(resolveEndpoint("ec2", "us-east-1", env({{"AWS_ENDPOINT_URL_EC2", "ftp://x"}})));
  EXPECT_FALSE(resolveEndpoint("ec2", "evil/../region", env({})));
  EXPECT_EQ(splitUrl("https://ec2.amazonaws.com:443/").value().hostHeader, "ec2.amazonaws.com");
  EXPECT_EQ(splitUrl("http://127.0.0.1:8080").value().hostHeader, "127.0.0.1:8080");
}

TEST(AwsProvider, UserDataOverTheEc2LimitIsRefused) {
  Harness h;
  auto p = h.make(h.config());
  auto req = request();
  req.userData = std::string(kMaxUserDataBytes + 1, 'x');
  auto r = p->createInstance(req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_TRUE(h.fake.calls("RunInstances").empty());
}

// Every request the provider sent in a range of scenarios must be valid for the EC2 API as
// botocore's service model describes it.
TEST(AwsProvider, RequestsMatchBotocoresEc2Model) {
  Harness h;
  std::vector<RecordedCall> all;
  {
    AwsConfig c = h.config();
    c.instanceTypes = {"t2.medium", "m6a.large", "p3.8xlarge"};
    c.metadataHttpTokens = "required";
    c.tags = {{"team", "coco"}};
    auto p = h.make(c);
    ASSERT_TRUE(p->createInstance(request()));
    ASSERT_TRUE(p->listInstances(""));
    ASSERT_TRUE(p->listInstances("0123456789abcdef"));
    ASSERT_TRUE(p->deleteInstance(h.fake.instances().begin()->first));
  }
  {
    AwsConfig c = h.config();
    c.usePublicIp = true;
    auto p = h.make(c);
    auto req = request("4444444444444444");
    req.spec.multiNic = true;
    auto inst = p->createInstance(req);
    ASSERT_TRUE(inst);
    ASSERT_TRUE(p->deleteInstance(inst->id));
    ASSERT_FALSE(h.fake.calls("ReleaseAddress").empty());
  }
  {
    AwsConfig c = h.config();
    c.usePublicIp = true;
    c.disableCvm = true;
    ASSERT_TRUE(h.make(c)->createInstance(request("5555555555555555")));
  }
  {
    AwsConfig c = h.config();
    c.useLaunchTemplate = true;
    ASSERT_TRUE(h.make(c)->createInstance(request("6666666666666666")));
  }
  nlohmann::json in = nlohmann::json::array();
  for (const auto& call : h.fake.calls()) {
    nlohmann::json params = nlohmann::json::array();
    for (const auto& [k, v] : call.params) params.push_back({k, v});
    in.push_back({{"action", call.action}, {"params", params}});
  }
  char dir[] = "/tmp/ppec2XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/calls.json";
  ASSERT_TRUE(files::writeAtomic(path, in.dump()));
  std::string cmd =
      "/usr/bin/python3 " + std::string(PP_AWS_TESTDATA) + "/check_ec2_params.py " + path + " 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  int rc = pclose(f);
  std::remove(path.c_str());
  rmdir(dir);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("checked " + std::to_string(in.size()) + " requests"), std::string::npos)
      << out;
}

}  // namespace
}  // namespace pp::providers::aws
