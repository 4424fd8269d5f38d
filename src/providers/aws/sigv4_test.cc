// SigV4 against AWS's published vectors (testdata/sigv4_vectors.json) and, for requests shaped
// like ours, against botocore's SigV4Auth (Debian's python3-botocore) run as a subprocess.
#include "providers/aws/sigv4.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/encoding.h"
#include "base/files.h"

namespace pp::providers::aws {
namespace {

using nlohmann::json;

std::chrono::system_clock::time_point at(const std::string& stamp) {
  std::tm tm{};
  strptime(stamp.c_str(), "%Y%m%dT%H%M%SZ", &tm);
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

json loadVectors() {
  auto text = files::readFile(std::string(PP_AWS_TESTDATA) + "/sigv4_vectors.json");
  EXPECT_TRUE(text.has_value());
  return json::parse(text.value_or("{}"));
}

SigningRequest fromCase(const json& c) {
  SigningRequest r;
  r.method = c["method"];
  r.path = c["path"];
  r.query = c["query"];
  for (const auto& h : c["headers"]) r.headers.emplace_back(h[0], h[1]);
  r.body = c["body"];
  return r;
}

std::string header(const SigningRequest& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

TEST(SigV4, PublishedVectors) {
  json v = loadVectors();
  ASSERT_GE(v["cases"].size(), 6u);
  Credentials creds{v["access_key"], v["secret_key"], "", {}, "test"};
  for (const auto& c : v["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    SigningScope scope{v["region"], c["service"], at(v["timestamp"])};
    SigningRequest r = fromCase(c);
    if (c.contains("signing_key_hex")) {
      EXPECT_EQ(encoding::hexEncode(signingKey(creds.secretAccessKey, scope)),
                c["signing_key_hex"].get<std::string>());
    }
    if (c.contains("canonical_request") || c.contains("canonical_request_sha256")) {
      SigningRequest withDate = r;
      withDate.headers.emplace_back("X-Amz-Date", v["timestamp"]);
      std::string canonical = canonicalRequest(withDate, nullptr);
      if (c.contains("canonical_request")) {
        EXPECT_EQ(canonical, c["canonical_request"].get<std::string>());
      }
      if (c.contains("canonical_request_sha256")) {
        EXPECT_EQ(sha256Hex(canonical), c["canonical_request_sha256"].get<std::string>());
      }
    }
    if (c.contains("authorization")) {
      sign(r, creds, scope);
      EXPECT_EQ(header(r, "Authorization"), c["authorization"].get<std::string>());
      EXPECT_EQ(header(r, "X-Amz-Date"), v["timestamp"].get<std::string>());
    }
  }
}

TEST(SigV4, SessionTokenIsSignedAndSent) {
  Credentials creds{"AKIDEXAMPLE", "secret", "FQoGZXIvYXdzE//token+with/chars=", {}, "test"};
  SigningRequest r;
  r.headers = {{"Host", "ec2.us-east-1.amazonaws.com"}};
  sign(r, creds, SigningScope{"us-east-1", "ec2", at("20261129T000000Z")});
  EXPECT_EQ(header(r, "X-Amz-Security-Token"), creds.sessionToken);
  EXPECT_NE(header(r, "Authorization").find("SignedHeaders=host;x-amz-date;x-amz-security-token,"),
            std::string::npos);
}

TEST(SigV4, HeaderValuesAreTrimmedAndCollapsed) {
  SigningRequest r;
  r.method = "GET";
  r.headers = {{"My-Header1", "  value1  "},
               {"my-header2", "\"a   b   c\""},
               {"Host", "example.amazonaws.com"}};
  std::string signedHeaders;
  std::string c = canonicalRequest(r, &signedHeaders);
  EXPECT_NE(c.find("my-header1:value1\nmy-header2:\"a b c\"\n"), std::string::npos);
  EXPECT_EQ(signedHeaders, "host;my-header1;my-header2");
}

TEST(SigV4, UriEncoding) {
  EXPECT_EQ(uriEncode("a b+c/d~e"), "a%20b%2Bc%2Fd~e");
  EXPECT_EQ(uriEncode("/x y/", false), "/x%20y/");
  EXPECT_EQ(canonicalQueryString("b=2&a=x%2fy&a=1"), "a=1&a=x%2Fy&b=2");
}

// The same requests signed by us and by botocore must carry the same Authorization header.
TEST(SigV4, MatchesBotocore) {
  if (std::system("/usr/bin/python3 -c 'import botocore.auth' 2>/dev/null") != 0) {
    FAIL() << "python3-botocore is not installed (scripts/install-deps installs it)";
  }
  struct Case {
    std::string method, url, path, query, host, body, region, service, token, stamp;
    std::vector<std::pair<std::string, std::string>> headers;
  };
  std::vector<Case> cases = {
      {"POST",
       "https://ec2.us-east-1.amazonaws.com/",
       "/",
       "",
       "ec2.us-east-1.amazonaws.com",
       "Action=RunInstances&Version=2016-11-15&ImageId=ami-0abcdef1234567890&UserData="
       "I2Nsb3VkLWNvbmZpZwo%3D"
       "&TagSpecification.1.Tag.1.Value=pod%20name%2Bx%2Fy&MinCount=1&MaxCount=1",
       "us-east-1",
       "ec2",
       "",
       "20261129T001500Z",
       {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}}},
      {"POST",
       "http://127.0.0.1:41234/",
       "/",
       "",
       "127.0.0.1:41234",
       "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3Aio.peerpods.sandbox-id",
       "eu-central-1",
       "ec2",
       "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+/=",
       "20280229T235959Z",
       {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}}},
      {"GET",
       "https://sts.cn-north-1.amazonaws.com.cn/sub/dir?b=x%2Fy&a=2&a=1&c=%E1%88%B4",
       "/sub/dir",
       "b=x%2Fy&a=2&a=1&c=%E1%88%B4",
       "sts.cn-north-1.amazonaws.com.cn",
       "",
       "cn-north-1",
       "sts",
       "",
       "20301231T120000Z",
       {{"X-Custom", "  spaced   value "}}},
  };
  json in = json::array();
  std::vector<std::string> ours;
  for (const auto& c : cases) {
    SigningRequest r;
    r.method = c.method;
    r.path = c.path;
    r.query = c.query;
    r.body = c.body;
    r.headers = c.headers;
    r.headers.emplace_back("Host", c.host);
    json headers = json::array();
    for (const auto& [k, v] : r.headers) headers.push_back({k, v});
    in.push_back({{"method", c.method},
                  {"url", c.url},
                  {"headers", headers},
                  {"body", c.body},
                  {"region", c.region},
                  {"service", c.service},
                  {"access_key", "AKIAIOSFODNN7EXAMPLE"},
                  {"secret_key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
                  {"token", c.token},
                  {"timestamp", c.stamp}});
    sign(r,
         Credentials{"AKIAIOSFODNN7EXAMPLE",
                     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                     c.token,
                     {},
                     "test"},
         SigningScope{c.region, c.service, at(c.stamp)});
    ours.push_back(header(r, "Authorization"));
  }
  char dir[] = "/tmp/ppsigXXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string inPath = std::string(dir) + "/in.json";
  ASSERT_TRUE(files::writeAtomic(inPath, in.dump()).has_value());
  std::string cmd =
      "/usr/bin/python3 " + std::string(PP_AWS_TESTDATA) + "/botocore_sign.py " + inPath;
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int rc = pclose(p);
  std::remove(inPath.c_str());
  rmdir(dir);
  ASSERT_EQ(rc, 0) << out;
  json theirs = json::parse(out);
  ASSERT_EQ(theirs.size(), ours.size());
  for (size_t i = 0; i < ours.size(); ++i)
    EXPECT_EQ(ours[i], theirs[i].get<std::string>()) << "case " << i;
}

}  // namespace
}  // namespace pp::providers::aws
