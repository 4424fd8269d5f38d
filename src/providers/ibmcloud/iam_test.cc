// IamTokenSource against the fake IAM token endpoint.
#include "providers/ibmcloud/iam.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "providers/ibmcloud/testing/fake_iam.h"

namespace pp::providers::ibmcloud {
namespace {

using namespace std::chrono_literals;
using testing::FakeIam;

struct FakeTime {
  std::shared_ptr<std::atomic<int64_t>> seconds =
      std::make_shared<std::atomic<int64_t>>(1'800'000'000);
  Clock clock() const {
    auto s = seconds;
    return [s] { return std::chrono::system_clock::time_point(std::chrono::seconds(s->load())); };
  }
};

struct Sleeps {
  std::shared_ptr<std::vector<std::chrono::milliseconds>> waits =
      std::make_shared<std::vector<std::chrono::milliseconds>>();
  Retrier::Sleep sleep() const {
    auto w = waits;
    return [w](std::chrono::milliseconds d) { w->push_back(d); };
  }
};

std::filesystem::path tempDir() {
  return std::filesystem::temp_directory_path() / ("ibm-iam-test-" + std::to_string(::getpid()));
}

std::string writeTemp(const std::string& name, const std::string& content) {
  auto dir = tempDir();
  std::filesystem::create_directories(dir);
  auto path = dir / name;
  std::ofstream(path) << content;
  return path.string();
}

TEST(IamEndpoint, AcceptsBaseOrFullTokenUrlLikeIbmSdks) {
  EXPECT_EQ(iamTokenEndpoint(""), "https://iam.cloud.ibm.com/identity/token");
  EXPECT_EQ(iamTokenEndpoint(kDefaultIamUrl), "https://iam.cloud.ibm.com/identity/token");
  EXPECT_EQ(iamTokenEndpoint("https://iam.cloud.ibm.com"),
            "https://iam.cloud.ibm.com/identity/token");
  EXPECT_EQ(iamTokenEndpoint("https://private.iam.cloud.ibm.com/"),
            "https://private.iam.cloud.ibm.com/identity/token");
  EXPECT_EQ(iamTokenEndpoint("http://127.0.0.1:9/identity/token/"),
            "http://127.0.0.1:9/identity/token");
}

TEST(IamTokenSource, NeitherKeyNorProfileIsAnErrorNamingBoth) {
  auto s = IamTokenSource::create({.apiKey = "", .profileId = ""}, "ibmcloud");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Code::kInvalidArgument);
  EXPECT_NE(s.error().message.find("-api-key"), std::string::npos);
  EXPECT_NE(s.error().message.find("-iam-profile-id"), std::string::npos);
  auto bad = IamTokenSource::create({.apiKey = "k", .tokenUrl = "ftp://x"}, "ibmcloud");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("-iam-service-url"), std::string::npos);
}

TEST(IamTokenSource, ApiKeyTokenIsCachedAndRefreshedBeforeExpiry) {
  FakeIam iam;
  FakeTime t;
  iam.setClock(t.clock());
  iam.setTokenLifetime(3600);
  auto src = IamTokenSource::create({.apiKey = FakeIam::kDefaultApiKey, .tokenUrl = iam.tokenUrl()},
                                    "ibmcloud", t.clock());
  ASSERT_TRUE(src) << src.error().message;
  auto a = (*src)->token();
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_TRUE(iam.valid("Bearer " + *a));
  EXPECT_FALSE(iam.valid(*a));  // without "Bearer "
  auto b = (*src)->token();
  ASSERT_TRUE(b);
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(iam.tokensIssued(), 1);
  // 50 minutes later the token has 10 minutes left: still used. At 56, inside the refresh
  // margin: a new one.
  *t.seconds += 50 * 60;
  EXPECT_EQ(*(*src)->token(), *a);
  *t.seconds += 6 * 60;
  auto c = (*src)->token();
  ASSERT_TRUE(c);
  EXPECT_NE(*c, *a);
  EXPECT_EQ(iam.tokensIssued(), 2);
  // After a 401 the caller drops it: a new one.
  (*src)->invalidate();
  ASSERT_TRUE((*src)->token());
  EXPECT_EQ(iam.tokensIssued(), 3);

  auto calls = iam.calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].form.at("grant_type"), kApiKeyGrant);
  EXPECT_EQ(calls[0].form.at("apikey"), FakeIam::kDefaultApiKey);
  EXPECT_EQ(calls[0].contentType, "application/x-www-form-urlencoded");
  EXPECT_EQ(calls[0].accept, "application/json");
  EXPECT_TRUE(iam.problems().empty()) << iam.problems()[0];
}

TEST(IamTokenSource, ExpiredTokenIsNotValidOnTheFake) {
  FakeIam iam;
  FakeTime t;
  iam.setClock(t.clock());
  iam.setTokenLifetime(60);
  auto src = IamTokenSource::create({.apiKey = FakeIam::kDefaultApiKey, .tokenUrl = iam.baseUrl()},
                                    "ibmcloud", t.clock());
  ASSERT_TRUE(src);
  auto a = (*src)->token();
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_TRUE(iam.valid("Bearer " + *a));
  *t.seconds += 61;
  EXPECT_FALSE(iam.valid("Bearer " + *a));
  // A token with less than the refresh margin is never handed out: every call fetches.
  auto b = (*src)->token();
  ASSERT_TRUE(b);
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(iam.valid("Bearer " + *b));
}

TEST(IamTokenSource, WrongKeyGivesIamErrorWithoutTheKey) {
  FakeIam iam;
  auto src = IamTokenSource::create({.apiKey = "not-the-key-s3cr3t", .tokenUrl = iam.tokenUrl()},
                                    "ibmcloud");
  ASSERT_TRUE(src);
  auto a = (*src)->token();
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, Code::kUnauthenticated);
  EXPECT_NE(a.error().message.find("BXNIM0415E"), std::string::npos) << a.error().message;
  EXPECT_NE(a.error().message.find("Provided API key could not be found"), std::string::npos);
  EXPECT_EQ(a.error().message.find("s3cr3t"), std::string::npos);
  EXPECT_EQ((*src)->describe().find("s3cr3t"), std::string::npos);
}

TEST(IamTokenSource, ThrottlingAndServerErrorsAreRetried) {
  FakeIam iam;
  Sleeps sleeps;
  iam.failures().add(kApiKeyGrant, {429, "BXNIM0429E", "Too many requests", "2"});
  iam.failures().add(kApiKeyGrant, {503, "BXNIM0503E", "Service unavailable", ""});
  IamCallOptions o;
  o.sleep = sleeps.sleep();
  auto src = IamTokenSource::create({.apiKey = FakeIam::kDefaultApiKey, .tokenUrl = iam.tokenUrl()},
                                    "ibmcloud", {}, o);
  ASSERT_TRUE(src);
  auto a = (*src)->token();
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_TRUE(iam.valid("Bearer " + *a));
  ASSERT_EQ(sleeps.waits->size(), 2u);
  EXPECT_EQ((*sleeps.waits)[0], 2000ms);  // Retry-After honoured

  iam.failures().add(kApiKeyGrant, {500, "BXNIM0500E", "Internal error", ""}, 100);
  (*src)->invalidate();
  auto b = (*src)->token();
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, Code::kUnavailable);
  EXPECT_NE(b.error().message.find("BXNIM0500E"), std::string::npos) << b.error().message;
  EXPECT_EQ(iam.calls().size(), 3u + 5u);  // 5 attempts, the policy's maximum
}

TEST(IamTokenSource, TrustedProfileRereadsTheRotatedCrTokenFile) {
  FakeIam iam;
  iam.addTrustedProfile("Profile-1234", "cr-token-one");
  std::string file = writeTemp("vault-token", "cr-token-one\n");
  auto src = IamTokenSource::create(
      {.profileId = "Profile-1234", .crTokenFile = file, .tokenUrl = iam.tokenUrl()}, "ibmcloud");
  ASSERT_TRUE(src);
  EXPECT_FALSE((*src)->usesApiKey());
  auto a = (*src)->token();
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_TRUE(iam.valid("Bearer " + *a));
  auto calls = iam.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].form.at("grant_type"), kCrTokenGrant);
  EXPECT_EQ(calls[0].form.at("cr_token"), "cr-token-one");
  EXPECT_EQ(calls[0].form.at("profile_id"), "Profile-1234");

  // The kubelet rotates the file; the old token is no longer accepted.
  iam.addTrustedProfile("Profile-1234", "cr-token-two");
  std::ofstream(file, std::ios::trunc) << "cr-token-two";
  (*src)->invalidate();
  auto b = (*src)->token();
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(iam.calls().back().form.at("cr_token"), "cr-token-two");

  // A CR token the profile does not trust: IAM's error.
  std::ofstream(file, std::ios::trunc) << "cr-token-stolen";
  (*src)->invalidate();
  auto c = (*src)->token();
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("BXNIM0471E"), std::string::npos) << c.error().message;
  EXPECT_EQ(c.error().message.find("cr-token-stolen"), std::string::npos);

  // No file: the error names the flag.
  std::filesystem::remove(file);
  (*src)->invalidate();
  auto d = (*src)->token();
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message.find("-cr-token-filename"), std::string::npos) << d.error().message;
  EXPECT_TRUE(iam.problems().empty()) << iam.problems()[0];
  std::filesystem::remove_all(tempDir());
}

TEST(FakeIam, ChecksWhatIamChecks) {
  FakeIam iam;
  net::HttpClient http;
  net::HttpRequest req;
  req.method = "POST";
  req.url = iam.tokenUrl();
  req.headers = {{"Content-Type", "application/json"}};
  req.body = R"({"grant_type":"urn:ibm:params:oauth:grant-type:apikey"})";
  auto r = http.send(req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("errorCode"), std::string::npos);
  ASSERT_EQ(iam.problems().size(), 1u);
  // Raw ':' is not form encoding.
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  req.body = std::string("grant_type=") + kApiKeyGrant + "&apikey=" + FakeIam::kDefaultApiKey;
  r = http.send(req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(iam.problems().size(), 2u);
  req.body = "grant_type=" + net::urlEncode(kApiKeyGrant) + "&apikey=" + FakeIam::kDefaultApiKey;
  r = http.send(req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(iam.problems().size(), 2u);
  req.method = "GET";
  r = http.send(req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
}

}  // namespace
}  // namespace pp::providers::ibmcloud
