// The credentials chain against the fake STS and IMDS: each source, precedence, the shared
// files with a profile, refresh before expiry, errors, and that no secret reaches the log.
#include "providers/aws/credentials.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "base/encoding.h"
#include "base/files.h"
#include "base/log.h"
#include "providers/aws/aws_provider.h"
#include "providers/aws/fake_aws.h"
#include "providers/aws/shared_config.h"
#include "providers/registry.h"

namespace pp::providers::aws {
namespace {

using testing::FakeAws;
using namespace std::chrono_literals;

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/ppawsXXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) {
    std::string p = path + "/" + name;
    EXPECT_TRUE(files::writeAtomic(p, text, 0600));
    return p;
  }
};

struct CredsHarness {
  FakeAws fake;
  TempDir dir;
  std::map<std::string, std::string> env;
  CredsHarness() {
    env["AWS_ENDPOINT_URL"] = fake.url();
    env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = fake.url();
    env["HOME"] = dir.path;
  }
  AwsConfig config() {
    AwsConfig c;
    c.region = "us-east-1";
    c.imageId = "ami-0123456789abcdef0";
    c.subnetId = "subnet-1";
    c.securityGroupIds = {"sg-1"};
    c.keyName = "k";
    c.mutatingCallsPerSecond = 0;
    return c;
  }
  Result<std::unique_ptr<AwsProvider>> make(const AwsConfig& c) {
    AwsDependencies d;
    d.env = flags::mapEnv(env);
    d.sleep = [](std::chrono::milliseconds) {};
    d.pollInterval = 5ms;
    return AwsProvider::create(c, d);
  }
  CreateRequest request() {
    CreateRequest r;
    r.podName = "p";
    r.podNamespace = "ns";
    r.sandboxId = "abcdefabcdefabcd";
    r.instanceName = "podvm-p-abcdefab";
    r.userData = "#cloud-config\n# -----BEGIN PRIVATE KEY----- user-data-secret\n";
    return r;
  }
};

TEST(AwsCredentials, StaticKeysWithSessionToken) {
  CredsHarness s;
  s.fake.acceptCredentials("AKIDSTATIC", "static-secret", "static-token");
  AwsConfig c = s.config();
  c.accessKeyId = "AKIDSTATIC";
  c.secretKey = "static-secret";
  c.sessionToken = "static-token";
  s.env["AWS_ACCESS_KEY_ID"] = "AKIDENV";  // flags beat the environment source
  s.env["AWS_SECRET_ACCESS_KEY"] = "env-secret";
  auto p = s.make(c);
  ASSERT_TRUE(p);
  ASSERT_TRUE((*p)->createInstance(s.request())) << s.fake.problems().size();
  EXPECT_EQ(s.fake.calls("RunInstances")[0].accessKey, "AKIDSTATIC");
  EXPECT_TRUE(s.fake.problems().empty());
}

TEST(AwsCredentials, EnvironmentKeys) {
  CredsHarness s;
  s.fake.acceptCredentials("AKIDENV", "env-secret", "env-token");
  s.env["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  s.env["AWS_SECRET_ACCESS_KEY"] = "env-secret";
  s.env["AWS_SESSION_TOKEN"] = "env-token";
  auto p = s.make(s.config());
  ASSERT_TRUE(p);
  ASSERT_TRUE((*p)->createInstance(s.request()));
  EXPECT_EQ(s.fake.calls("RunInstances")[0].accessKey, "AKIDENV");
}

TEST(AwsCredentials, SharedFilesWithProfile) {
  CredsHarness s;
  s.fake.region = "eu-west-3";
  s.fake.acceptCredentials("AKIDDEV", "dev-secret");
  s.env["AWS_SHARED_CREDENTIALS_FILE"] = s.dir.write(
      "credentials",
      "# comment\n[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = nope\n\n"
      "[dev]\naws_access_key_id=AKIDDEV\n  ; indented comment\naws_secret_access_key = "
      "dev-secret\n");
  s.env["AWS_CONFIG_FILE"] =
      s.dir.write("config",
                  "[default]\nregion = us-west-2\n[profile dev]\nregion = eu-west-3\n"
                  "s3 =\n  addressing_style = path\n");
  s.env["AWS_PROFILE"] = "dev";
  AwsConfig c = s.config();
  c.region = "";
  s.env["AWS_EC2_METADATA_DISABLED"] = "true";
  auto p = s.make(c);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ((*p)->config().region, "eu-west-3");
  ASSERT_TRUE((*p)->createInstance(s.request()));
  EXPECT_EQ(s.fake.calls("RunInstances")[0].accessKey, "AKIDDEV");
  EXPECT_TRUE(s.fake.problems().empty());

  // -aws-profile beats AWS_PROFILE; the default profile's config section is [default].
  auto prof = loadProfile(profileName("default", flags::mapEnv(s.env)), flags::mapEnv(s.env));
  ASSERT_TRUE(prof);
  EXPECT_EQ(prof->accessKeyId, "AKIDDEFAULT");
  EXPECT_EQ(prof->region, "us-west-2");
  // A malformed file is an error naming it, not silently ignored.
  s.env["AWS_CONFIG_FILE"] = s.dir.write("bad", "region = x\n");
  auto bad = s.make(c);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("setting outside of a section"), std::string::npos);
  // A profile named but absent is an error, as in the SDKs.
  s.env["AWS_CONFIG_FILE"] = s.dir.path + "/config";
  s.env["AWS_PROFILE"] = "nope";
  auto missing = s.make(c);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("AWS profile \"nope\""), std::string::npos);
}

TEST(AwsCredentials, WebIdentityThroughSts) {
  CredsHarness s;
  s.env["AWS_WEB_IDENTITY_TOKEN_FILE"] = s.dir.write("token", "web-identity-token\n");
  s.env["AWS_ROLE_ARN"] = s.fake.stsRoleArn;
  s.env["AWS_ROLE_SESSION_NAME"] = "caa-node-1";
  s.env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1";
  s.env["AWS_ENDPOINT_URL_EC2"] = s.fake.url();
  s.env["AWS_ENDPOINT_URL_STS"] = s.fake.url();
  auto p = s.make(s.config());
  ASSERT_TRUE(p);
  ASSERT_TRUE((*p)->createInstance(s.request()));
  ASSERT_TRUE((*p)->deleteInstance(s.fake.instances().begin()->first));
  EXPECT_EQ(s.fake.stsIssued.load(), 1);  // an hour-long credential is reused
  for (const auto& call : s.fake.calls()) EXPECT_EQ(call.accessKey, "ASIASTS1");
  EXPECT_TRUE(s.fake.problems().empty());
}

TEST(AwsCredentials, TemporaryCredentialsAreRefreshedBeforeExpiry) {
  CredsHarness s;
  s.fake.stsLifetime = 4min;  // inside the 5-minute refresh window: every use refreshes
  s.env["AWS_WEB_IDENTITY_TOKEN_FILE"] = s.dir.write("token", "web-identity-token");
  s.env["AWS_ROLE_ARN"] = s.fake.stsRoleArn;
  auto p = s.make(s.config());
  ASSERT_TRUE(p);
  ASSERT_TRUE((*p)->deleteInstance("i-1"));
  ASSERT_TRUE((*p)->deleteInstance("i-2"));
  // Every EC2 call (DescribeAddresses and TerminateInstances for each delete) got fresh ones.
  auto calls = s.fake.calls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(s.fake.stsIssued.load(), 4);
  for (size_t i = 0; i < calls.size(); ++i)
    EXPECT_EQ(calls[i].accessKey, "ASIASTS" + std::to_string(i + 1));

  // With a clock: cached until five minutes before expiry, then refreshed; a failing refresh
  // keeps the old credentials while they are valid.
  struct Counting : CredentialsProvider {
    int calls = 0;
    bool broken = false;
    std::chrono::system_clock::time_point expiry;
    Result<Credentials> retrieve() override {
      ++calls;
      if (broken) return fail(Code::kUnavailable, "sts down");
      return Credentials{"AK" + std::to_string(calls), "s", "t", expiry, "test"};
    }
  };
  auto inner = std::make_shared<Counting>();
  auto now = std::chrono::system_clock::from_time_t(1800000000);
  inner->expiry = now + 1h;
  CachingCredentialsProvider cache(inner, [&] { return now; });
  EXPECT_EQ(cache.retrieve()->accessKeyId, "AK1");
  now += 50min;
  EXPECT_EQ(cache.retrieve()->accessKeyId, "AK1");
  now += 6min;  // 4 minutes left
  inner->expiry = now + 1h;
  EXPECT_EQ(cache.retrieve()->accessKeyId, "AK2");
  now += 57min;
  inner->broken = true;
  EXPECT_EQ(cache.retrieve()->accessKeyId, "AK2");  // refresh failed, 3 minutes left
  now += 4min;
  EXPECT_FALSE(cache.retrieve());  // expired and no refresh
}

TEST(AwsCredentials, InstanceRoleFromImdsV2) {
  CredsHarness s;
  s.fake.imds["meta-data/iam/security-credentials/"] = "peerpods-node-role\n";
  auto p = s.make(s.config());
  ASSERT_TRUE(p);
  ASSERT_TRUE((*p)->deleteInstance("i-1"));
  EXPECT_EQ(s.fake.calls("TerminateInstances")[0].accessKey, "ASIAIMDS1");
  EXPECT_GE(s.fake.imdsTokens.load(), 1);
  EXPECT_TRUE(s.fake.problems().empty());
}

TEST(AwsImds, TokenIsRenewedOnceOn401AndEndpointsFollowTheEnvironment) {
  FakeAws fake;
  fake.imds["meta-data/placement/region"] = "ap-south-2";
  ImdsClient imds(net::HttpClient(),
                  flags::mapEnv({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", fake.url() + "/"}}));
  EXPECT_EQ(imds.get("meta-data/placement/region").value_or(""), "ap-south-2");
  EXPECT_EQ(fake.imdsTokens.load(), 1);
  EXPECT_EQ(imds.get("meta-data/placement/region").value_or(""), "ap-south-2");
  EXPECT_EQ(fake.imdsTokens.load(), 1);  // the token is reused
  fake.imdsRejectTokens = 1;
  EXPECT_EQ(imds.get("meta-data/placement/region").value_or(""), "ap-south-2");
  EXPECT_EQ(fake.imdsTokens.load(), 2);  // renewed after a 401
  fake.imdsRejectTokens = 5;
  auto r = imds.get("meta-data/placement/region");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kUnauthenticated);
  auto missing = imds.get("meta-data/nothing");
  ASSERT_FALSE(missing);
  fake.imdsRejectTokens = 0;
  EXPECT_EQ(imds.get("meta-data/nothing").error().code, Code::kNotFound);

  EXPECT_EQ(ImdsClient(net::HttpClient(), flags::mapEnv({})).endpoint(), "http://169.254.169.254");
  EXPECT_EQ(ImdsClient(net::HttpClient(),
                       flags::mapEnv({{"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6"}}))
                .endpoint(),
            "http://[fd00:ec2::254]");
  ImdsClient off(net::HttpClient(), flags::mapEnv({{"AWS_EC2_METADATA_DISABLED", "TRUE"}}));
  EXPECT_TRUE(off.disabled());
  EXPECT_EQ(off.get("meta-data/placement/region").error().code, Code::kFailedPrecondition);
}

// peerpod-ctrl's way: the registered provider, configured from the environment alone.
TEST(AwsRegistry, BuiltFromTheEnvironmentAlone) {
  FakeAws fake;
  fake.acceptCredentials("AKIDFROMENV", "secret-from-env");
  std::map<std::string, std::string> vars = {
      {"AWS_ACCESS_KEY_ID", "AKIDFROMENV"},
      {"AWS_SECRET_ACCESS_KEY", "secret-from-env"},
      {"AWS_REGION", "us-east-1"},
      {"PODVM_AMI_ID", "ami-0123456789abcdef0"},
      {"AWS_SUBNET_ID", "subnet-1"},
      {"AWS_SG_IDS", "sg-1"},
      {"SSH_KP_NAME", "k"},
      {"AWS_ENDPOINT_URL", fake.url()},
      {"AWS_EC2_METADATA_DISABLED", "true"},
      {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"},
      {"AWS_CONFIG_FILE", "/nonexistent/config"}};
  for (const auto& [k, v] : vars) setenv(k.c_str(), v.c_str(), 1);
  auto setup = registry().setup("aws");
  ASSERT_TRUE(setup);
  flags::FlagSet fs("aws");
  (*setup)->registerFlags(fs);
  auto provider = (*setup)->build();
  for (const auto& [k, v] : vars) unsetenv(k.c_str());
  ASSERT_TRUE(provider) << provider.error().message;
  EXPECT_TRUE((*provider)->verifyConfig());
  EXPECT_TRUE((*provider)->deleteInstance("i-0123456789abcdef0"));
  EXPECT_EQ(fake.calls("TerminateInstances").size(), 1u);
  EXPECT_EQ(fake.calls("TerminateInstances")[0].accessKey, "AKIDFROMENV");
  EXPECT_TRUE(fake.problems().empty());
}

TEST(AwsCredentials, ErrorsAreClear) {
  CredsHarness s;
  s.env["AWS_EC2_METADATA_DISABLED"] = "true";
  auto none = s.make(s.config());
  ASSERT_TRUE(none);
  auto st = (*none)->deleteInstance("i-1");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Code::kUnauthenticated);
  EXPECT_NE(st.error().message.find("no AWS credentials found"), std::string::npos);

  s.env["AWS_WEB_IDENTITY_TOKEN_FILE"] = s.dir.write("token", "expired-token");
  s.env["AWS_ROLE_ARN"] = s.fake.stsRoleArn;
  auto p = s.make(s.config());
  auto r = (*p)->createInstance(s.request());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kUnauthenticated);
  EXPECT_NE(r.error().message.find("InvalidIdentityToken: Couldn't retrieve verification key"),
            std::string::npos)
      << r.error().message;
  EXPECT_TRUE(s.fake.calls("RunInstances").empty());
}

// Secrets (secret keys, session tokens, the web identity token, signing keys) never reach the log,
// also at debug level and on error paths.
TEST(AwsCredentials, NoSecretInLogs) {
  CredsHarness s;
  s.fake.stsLifetime = 4min;
  s.env["AWS_WEB_IDENTITY_TOKEN_FILE"] = s.dir.write("token", "web-identity-token");
  s.env["AWS_ROLE_ARN"] = s.fake.stsRoleArn;
  s.fake.imds["meta-data/iam/security-credentials/"] = "role";
  auto level = log::level();
  log::setLevel(log::Level::kDebug);
  ::testing::internal::CaptureStderr();
  {
    auto p = s.make(s.config());
    ASSERT_TRUE(p);
    s.fake.failNext("RunInstances", 503, "RequestLimitExceeded", "Request limit exceeded.");
    ASSERT_TRUE((*p)->createInstance(s.request()));
    ASSERT_TRUE((*p)->deleteInstance(s.fake.instances().begin()->first));
    s.fake.failNext("TerminateInstances", 403, "AuthFailure",
                    "AWS was not able to validate the provided access credentials");
    EXPECT_FALSE((*p)->deleteInstance("i-2"));
  }
  {
    AwsConfig c = s.config();
    c.accessKeyId = "AKIDSTATIC";
    c.secretKey = "static-secret-value";
    c.sessionToken = "static-session-token-value";
    auto p = s.make(c);
    ASSERT_TRUE(p);
    EXPECT_FALSE((*p)->deleteInstance("i-3"));  // unknown key: AuthFailure from the fake
  }
  {
    s.env.erase("AWS_WEB_IDENTITY_TOKEN_FILE");
    auto p = s.make(s.config());
    ASSERT_TRUE((*p)->deleteInstance("i-4"));  // instance role
  }
  std::string logs = ::testing::internal::GetCapturedStderr();
  log::setLevel(level);
  ASSERT_NE(logs.find("RequestLimitExceeded"), std::string::npos) << "logs were not captured";
  std::vector<std::string> secrets = {"web-identity-token",         "static-secret-value",
                                      "static-session-token-value", "imds-session-token",
                                      "user-data-secret",           "PRIVATE KEY"};
  for (int n = 1; n <= 3; ++n) {
    secrets.push_back("sts-secret-" + std::to_string(n));
    secrets.push_back("sts-session-token-" + std::to_string(n));
    secrets.push_back("imds-secret-" + std::to_string(n));
  }
  auto today = std::chrono::system_clock::now();
  for (const char* secret :
       {"sts-secret-1", "sts-secret-2", "static-secret-value", "imds-secret-1"}) {
    secrets.push_back(
        encoding::hexEncode(signingKey(secret, SigningScope{"us-east-1", "ec2", today})));
  }
  for (const auto& secret : secrets)
    EXPECT_EQ(logs.find(secret), std::string::npos) << secret << " in:\n" << logs;
}

}  // namespace
}  // namespace pp::providers::aws
