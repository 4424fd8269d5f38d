// Tests of the gcp credentials: key parsing, the RS256 JWT (checked by an independent
// implementation, Debian's python3-jwt), the token exchange and the metadata server.
#include "providers/gcp/gcp_auth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "net/http_server.h"
#include "providers/gcp/fake_gcp.h"

namespace pp::providers::gcp {
namespace {

using testing::FakeGcp;
using testing::TestKey;

const TestKey& key() {
  static TestKey k = testing::makeTestKey();
  return k;
}

std::string runCommand(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *status = pclose(p);
  return out;
}

TEST(GcpKey, ParsesAServiceAccountKey) {
  auto k = parseServiceAccountKey(key().json("https://oauth2.googleapis.com/token"));
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_EQ(k->clientEmail, "pods@proj-1.iam.gserviceaccount.com");
  EXPECT_EQ(k->privateKeyId, "0123456789abcdef0123456789abcdef01234567");
  EXPECT_EQ(k->tokenUri, "https://oauth2.googleapis.com/token");
  EXPECT_EQ(k->projectId, "proj-1");
}

TEST(GcpKey, RejectsBadKeysWithoutQuotingThem) {
  auto j = nlohmann::json::parse(key().json("https://oauth2.googleapis.com/token"));
  EXPECT_FALSE(parseServiceAccountKey("not json"));
  EXPECT_FALSE(parseServiceAccountKey("[1,2]"));
  auto user = j;
  user["type"] = "authorized_user";
  auto r = parseServiceAccountKey(user.dump());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("authorized_user"), std::string::npos);
  auto noEmail = j;
  noEmail.erase("client_email");
  EXPECT_FALSE(parseServiceAccountKey(noEmail.dump()));
  auto badPem = j;
  std::string pem = badPem["private_key"];
  pem[pem.size() / 2] = pem[pem.size() / 2] == 'A' ? 'B' : 'A';
  pem.erase(40, 200);
  badPem["private_key"] = pem;
  auto e = parseServiceAccountKey(badPem.dump());
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().message.find("PRIVATE KEY"), std::string::npos) << e.error().message;
  EXPECT_EQ(e.error().message.find(pem.substr(60, 20)), std::string::npos);
}

TEST(GcpJwt, VerifiedByPythonJwt) {
  int st = 0;
  runCommand("/usr/bin/python3 -c 'import jwt, cryptography' 2>&1", &st);
  if (st != 0) GTEST_SKIP() << "python3-jwt (Debian) is not installed";
  auto k = parseServiceAccountKey(key().json("https://oauth2.googleapis.com/token"));
  ASSERT_TRUE(k);
  auto now = std::chrono::system_clock::now();
  auto jwt = makeJwtAssertion(*k, kComputeScope, now);
  ASSERT_TRUE(jwt) << jwt.error().message;
  char dir[] = "/tmp/gcpjwtXXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string pub = std::string(dir) + "/pub.pem", tok = std::string(dir) + "/jwt";
  std::ofstream(pub) << key().publicPem;
  std::ofstream(tok) << *jwt;
  std::string script =
      "import jwt, json, sys\n"
      "key = open(sys.argv[1]).read(); tok = open(sys.argv[2]).read()\n"
      "h = jwt.get_unverified_header(tok)\n"
      "c = jwt.decode(tok, key, algorithms=['RS256'], "
      "audience='https://oauth2.googleapis.com/token',"
      " options={'require': ['iss', 'aud', 'iat', 'exp']})\n"
      "print(json.dumps({'header': h, 'claims': c}))\n";
  std::ofstream(std::string(dir) + "/check.py") << script;
  std::string out = runCommand(
      "/usr/bin/python3 " + std::string(dir) + "/check.py " + pub + " " + tok + " 2>&1", &st);
  ASSERT_EQ(st, 0) << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["header"]["alg"], "RS256");
  EXPECT_EQ(j["header"]["typ"], "JWT");
  EXPECT_EQ(j["header"]["kid"], "0123456789abcdef0123456789abcdef01234567");
  EXPECT_EQ(j["claims"]["iss"], "pods@proj-1.iam.gserviceaccount.com");
  EXPECT_EQ(j["claims"]["scope"], kComputeScope);
  EXPECT_EQ(j["claims"]["exp"].get<int64_t>() - j["claims"]["iat"].get<int64_t>(), 3600);

  // A tampered token fails the same check: the verification can fail.
  std::string bad = *jwt;
  bad[bad.rfind('.') + 5] = bad[bad.rfind('.') + 5] == 'A' ? 'B' : 'A';
  std::ofstream(tok) << bad;
  runCommand("/usr/bin/python3 " + std::string(dir) + "/check.py " + pub + " " + tok + " 2>&1",
             &st);
  EXPECT_NE(st, 0);
  std::system(("rm -rf " + std::string(dir)).c_str());
}

TEST(GcpToken, ServiceAccountExchangeAndCache) {
  FakeGcp fake("proj-1", "us-central1-a", key().publicPem);
  TokenSourceInputs in;
  in.credentialsJson = key().json(fake.tokenUri());
  in.env = flags::mapEnv({});
  auto src = makeTokenSource(in);
  ASSERT_TRUE(src) << src.error().message;
  auto t = (*src)->token();
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_TRUE(fake.problems().empty()) << fake.problems()[0];
  ASSERT_EQ(fake.issuedTokens().size(), 1u);
  EXPECT_EQ(*t, fake.issuedTokens()[0]);
  EXPECT_EQ(fake.jwtClaims()[0]["aud"], fake.tokenUri());
  // Cached, then fetched again after invalidate().
  EXPECT_EQ(*(*src)->token(), *t);
  EXPECT_EQ(fake.calls("/token").size(), 1u);
  (*src)->invalidate();
  auto t2 = (*src)->token();
  ASSERT_TRUE(t2);
  EXPECT_NE(*t2, *t);
  EXPECT_EQ(fake.calls("/token").size(), 2u);
}

TEST(GcpToken, RefreshesBeforeExpiry) {
  FakeGcp fake("proj-1", "us-central1-a", key().publicPem);
  auto now = std::chrono::system_clock::now();
  TokenSourceInputs in;
  in.credentialsJson = key().json(fake.tokenUri());
  in.env = flags::mapEnv({});
  in.clock = [&] { return now; };
  auto src = makeTokenSource(in);
  ASSERT_TRUE(src);
  ASSERT_TRUE((*src)->token());
  now += std::chrono::minutes(50);  // 9 minutes left: still cached
  ASSERT_TRUE((*src)->token());
  EXPECT_EQ(fake.calls("/token").size(), 1u);
  now += std::chrono::minutes(6);  // 3 minutes left: refreshed
  ASSERT_TRUE((*src)->token());
  EXPECT_EQ(fake.calls("/token").size(), 2u);
}

TEST(GcpToken, TokenEndpointOverrideKeepsAudience) {
  FakeGcp fake("proj-1", "us-central1-a", key().publicPem);
  TokenSourceInputs in;
  // The key names Google's token URI; the override sends the exchange to the fake.
  in.credentialsJson = key().json(fake.tokenUri());
  in.tokenEndpoint = fake.url() + "/token";
  in.env = flags::mapEnv({});
  auto src = makeTokenSource(in);
  ASSERT_TRUE(src);
  ASSERT_TRUE((*src)->token());
  EXPECT_EQ(fake.jwtClaims().at(0)["aud"], fake.tokenUri());
}

TEST(GcpToken, RejectedAssertionIsAClearError) {
  FakeGcp fake("proj-1", "us-central1-a", testing::makeTestKey().publicPem);  // another key
  TokenSourceInputs in;
  in.credentialsJson = key().json(fake.tokenUri());
  in.env = flags::mapEnv({});
  auto src = makeTokenSource(in);
  ASSERT_TRUE(src);
  auto t = (*src)->token();
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, Code::kUnauthenticated);
  EXPECT_NE(t.error().message.find("invalid_grant"), std::string::npos) << t.error().message;
  EXPECT_NE(t.error().message.find("HTTP 400"), std::string::npos);
}

TEST(GcpToken, GoogleApplicationCredentialsFile) {
  FakeGcp fake("proj-1", "us-central1-a", key().publicPem);
  char path[] = "/tmp/gcpkeyXXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string k = key().json(fake.tokenUri());
  ASSERT_EQ(write(fd, k.data(), k.size()), static_cast<ssize_t>(k.size()));
  close(fd);
  TokenSourceInputs in;
  in.env = flags::mapEnv({{"GOOGLE_APPLICATION_CREDENTIALS", path}});
  auto src = makeTokenSource(in);
  unlink(path);
  ASSERT_TRUE(src) << src.error().message;
  EXPECT_NE((*src)->describe().find("service account"), std::string::npos);
  ASSERT_TRUE((*src)->token());
}

TEST(GcpToken, MetadataServer) {
  FakeGcp fake("proj-1", "us-central1-a", key().publicPem);
  TokenSourceInputs in;
  in.env = flags::mapEnv({{"GCE_METADATA_HOST", fake.metadataHost()}});
  auto src = makeTokenSource(in);
  ASSERT_TRUE(src);
  auto t = (*src)->token();
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->rfind("ya29.c.fake-metadata-token-", 0), 0u);
  auto calls = fake.calls("/computeMetadata/");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, "GET");
}

TEST(GcpToken, MetadataServerMustSayItIsOne) {
  // An endpoint that answers 200 without Metadata-Flavor: Google is not trusted.
  auto server = net::HttpServer::start({}, [](const net::ServerRequest&) {
    net::ServerResponse r;
    r.body = R"({"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"})";
    return r;
  });
  ASSERT_TRUE(server);
  MetadataTokenSource src(net::HttpClient(), "127.0.0.1:" + std::to_string((*server)->port()), "",
                          [] { return std::chrono::system_clock::now(); });
  auto bad = src.token();
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("Metadata-Flavor"), std::string::npos);
  MetadataTokenSource down(net::HttpClient(), "127.0.0.1:1", "",
                           [] { return std::chrono::system_clock::now(); });
  auto t = down.token();
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("GCP_CREDENTIALS"), std::string::npos) << t.error().message;
}

}  // namespace
}  // namespace pp::providers::gcp
