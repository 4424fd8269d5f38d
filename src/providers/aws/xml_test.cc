// The strict XML reader and AWS error parsing.
#include "providers/aws/xml.h"

#include <gtest/gtest.h>

#include "providers/aws/aws_error.h"

namespace pp::providers::aws {
namespace {

TEST(Xml, ReadsElementsTextAndLocalNames) {
  auto doc = parseXml(R"(<?xml version="1.0"?><a:R xmlns:a="urn:x"><x>1</x><s><item>p&amp;q</item><item><![CDATA[<z>]]></item></s></a:R>)");
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
  EXPECT_FALSE(parseXml(R"(<!DOCTYPE r [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;">]><r>&b;</r>)"));
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
  auto e = parseAwsError(400, R"(<Response><Errors><Error><Code>InvalidAMIID.NotFound</Code><Message>The image id '[ami-1]' does not exist</Message></Error></Errors><RequestID>r-1</RequestID></Response>)");
  EXPECT_EQ(e.code, "InvalidAMIID.NotFound");
  EXPECT_TRUE(e.notFound());
  EXPECT_FALSE(e.retryable());
  Error err = e.toError("EC2 RunInstances");
  EXPECT_EQ(err.code, Code::kNotFound);
  EXPECT_EQ(err.message, "EC2 RunInstances: InvalidAMIID.NotFound: The image id '[ami-1]' does not exist (request id r-1)");

  auto s = parseAwsError(400, R"(<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>bad token</Message></Error><RequestId>x</RequestId></ErrorResponse>)");
  EXPECT_EQ(s.code, "InvalidIdentityToken");
  EXPECT_EQ(s.toError("STS").code, Code::kUnauthenticated);

  EXPECT_TRUE(parseAwsError(503, R"(<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors></Response>)").retryable());
  EXPECT_TRUE(parseAwsError(503, "<html>Service Unavailable</html>").retryable());
  EXPECT_EQ(parseAwsError(400, R"(<Response><Errors><Error><Code>InsufficientInstanceCapacity</Code><Message>m</Message></Error></Errors></Response>)").toError("x").code, Code::kResourceExhausted);
  EXPECT_EQ(parseAwsError(403, R"(<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>m</Message></Error></Errors></Response>)").toError("x").code, Code::kPermissionDenied);
  EXPECT_EQ(parseAwsError(400, "not xml\x01").message, "unexpected answer: not xml ");
}

}  // namespace
}  // namespace pp::providers::aws
