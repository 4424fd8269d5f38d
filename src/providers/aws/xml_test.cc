// The strict XML reader and AWS error parsing.
#include "providers/aws/xml.h"

#include <gtest/gtest.h>

#include <random>

#include "base/files.h"
#include "providers/aws/aws_error.h"
#include "providers/aws/ec2_client.h"

namespace pp::providers::aws {
namespace {

TEST(Xml, ReadsElementsTextAndLocalNames) {
  auto doc = parseXml(
      R"(<?xml version="1.0"?><a:R xmlns:a="urn:x"><x>1</x><s><item>p&amp;q</item><item><![CDATA[<z>]]></item></s></a:R>)");
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(doc->name, "R");
  EXPECT_EQ(doc->childText("x"), "1");
  auto items = doc->child("s")->all("item");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0]->text, "p&q");
  EXPECT_EQ(items[1]->text, "<z>");
  EXPECT_EQ(doc->find({"s", "item"}), items[0]);
  EXPECT_EQ(doc->find({"s", "nope"}), nullptr);
}

TEST(Xml, RefusesDtdsEntitiesAndMalformedInput) {
  EXPECT_FALSE(
      parseXml(R"(<!DOCTYPE r [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;">]><r>&b;</r>)"));
  EXPECT_FALSE(parseXml(R"(<!DOCTYPE r SYSTEM "file:///etc/passwd"><r/>)"));
  EXPECT_FALSE(parseXml("<r><x></r>"));
  EXPECT_FALSE(parseXml(""));
  EXPECT_FALSE(parseXml("<r>&undefined;</r>"));
}

TEST(Xml, EnforcesLimits) {
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "<a>";
  for (int i = 0; i < 100; ++i) deep += "</a>";
  auto d = parseXml(deep);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, Code::kResourceExhausted);
  std::string wide = "<r>";
  for (int i = 0; i < 2000; ++i) wide += "<i/>";
  wide += "</r>";
  EXPECT_FALSE(parseXml(wide, XmlLimits{.maxBytes = 1 << 20, .maxDepth = 8, .maxElements = 1000}));
  EXPECT_FALSE(parseXml(std::string(100, ' ') + "<r/>", XmlLimits{.maxBytes = 50}));
}

TEST(AwsErrors, ParsesEc2AndStsShapes) {
  auto e = parseAwsError(
      400,
      R"(<Response><Errors><Error><Code>InvalidAMIID.NotFound</Code><Message>The image id '[ami-1]' does not exist</Message></Error></Errors><RequestID>r-1</RequestID></Response>)");
  EXPECT_EQ(e.code, "InvalidAMIID.NotFound");
  EXPECT_TRUE(e.notFound());
  EXPECT_FALSE(e.retryable());
  Error err = e.toError("EC2 RunInstances");
  EXPECT_EQ(err.code, Code::kNotFound);
  EXPECT_EQ(err.message,
            "EC2 RunInstances: InvalidAMIID.NotFound: The image id '[ami-1]' does not exist "
            "(request id r-1)");

  auto s = parseAwsError(
      400,
      R"(<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>bad token</Message></Error><RequestId>x</RequestId></ErrorResponse>)");
  EXPECT_EQ(s.code, "InvalidIdentityToken");
  EXPECT_EQ(s.toError("STS").code, Code::kUnauthenticated);

  EXPECT_TRUE(
      parseAwsError(
          503,
          R"(<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors></Response>)")
          .retryable());
  EXPECT_TRUE(parseAwsError(503, "<html>Service Unavailable</html>").retryable());
  EXPECT_EQ(
      parseAwsError(
          400,
          R"(<Response><Errors><Error><Code>InsufficientInstanceCapacity</Code><Message>m</Message></Error></Errors></Response>)")
          .toError("x")
          .code,
      Code::kResourceExhausted);
  EXPECT_EQ(
      parseAwsError(
          403,
          R"(<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>m</Message></Error></Errors></Response>)")
          .toError("x")
          .code,
      Code::kPermissionDenied);
  EXPECT_EQ(parseAwsError(400, "not xml\x01").message, "unexpected answer: not xml ");
  EXPECT_TRUE(
      parseAwsError(
          400,
          R"(<Response><Errors><Error><Code>RequestExpired</Code><Message>Request has expired.</Message></Error></Errors></Response>)")
          .clockSkewed());
  auto t = parseHttpDate("Sun, 29 Nov 2026 00:30:00 GMT");
  ASSERT_TRUE(t);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*t), 1795912200);
  EXPECT_FALSE(parseHttpDate("Sun, 29 Nov 2026 00:30:00"));
  EXPECT_FALSE(parseHttpDate("yesterday"));
}

// Damaged answers (bytes flipped, cut, duplicated) never crash the readers; CI runs this under
// AddressSanitizer too.
TEST(Xml, SurvivesDamagedAnswers) {
  std::mt19937 rng(20261129);
  int parsed = 0;
  for (const char* name :
       {"run_instances.xml", "describe_instances.xml", "describe_instance_types.xml",
        "describe_images.xml", "ec2_error.xml", "sts_assume_role_with_web_identity.xml"}) {
    auto text = files::readFile(std::string(PP_AWS_TESTDATA) + "/" + name);
    ASSERT_TRUE(text);
    for (int i = 0; i < 400; ++i) {
      std::string t = *text;
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !t.empty(); ++e) {
        size_t pos = rng() % t.size();
        switch (rng() % 4) {
          case 0:
            t[pos] = static_cast<char>(rng() % 256);
            break;
          case 1:
            t.resize(pos);
            break;
          case 2:
            t.insert(pos, t.substr(pos, rng() % 64));
            break;
          default:
            t.erase(pos, rng() % 16);
            break;
        }
      }
      auto doc = parseXml(t);
      if (doc) {
        ++parsed;
        if (const XmlElement* set = doc->child("instancesSet")) {
          for (const XmlElement* item : set->all("item")) (void)parseInstance(*item);
        }
      }
      (void)parseAwsError(400, t);
    }
  }
  EXPECT_GT(parsed, 0);
}

}  // namespace
}  // namespace pp::providers::aws
