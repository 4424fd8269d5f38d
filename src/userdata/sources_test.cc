// The user-data sources against local HTTP servers (headers, IMDSv2 token flow and IMDSv1
// fallback, base64, status codes, size limits) and the detection order.
#include "userdata/sources.h"

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "cloudinit/nocloud_iso.h"
#include "userdata/cidata_device.h"
#include "userdata/platform.h"
#include "userdata/test_util.h"

namespace pp::userdata {
namespace {

using namespace testing;
using namespace std::chrono_literals;

const std::string kDoc = "#cloud-config\nwrite_files:\n- path: /run/peerpod/apf.json\n  content: '{}'\n";

Clock::time_point soon() { return Clock::now() + 5s; }

Config configFor(const std::string& url, const TempRoot& root) {
  Config c;
  c.root = root.str();
  c.azureUrl = c.awsUrl = c.gcpUrl = c.alibabaUrl = url;
  c.hypervisorVendor = "";
  c.requestTimeout = 2000ms;
  return c;
}

net::ServerResponse text(int status, std::string body) { return net::ServerResponse{status, {}, std::move(body)}; }

TEST(SourcesTest, AzureNeedsTheMetadataHeaderAndDecodesBase64) {
  FakeMetadata imds([](const net::ServerRequest& r) {
    if (r.path != "/metadata/instance/compute/userData") return text(404, "no");
    if (r.queryParam("api-version") != "2021-01-01" || r.queryParam("format") != "text") return text(400, "query");
    if (r.header("Metadata") != "true") return text(400, "Required metadata header not specified");
    return text(200, encoding::base64Encode(kDoc));
  });
  TempRoot root;
  net::HttpClient http;
  auto src = makeAzureSource(configFor(imds.url(), root), http);
  auto doc = src->fetch(soon());
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(*doc, kDoc);
  ASSERT_EQ(imds.requests().size(), 1u);
  EXPECT_EQ(imds.requests()[0].method, "GET");
}

TEST(SourcesTest, AwsUsesAnImdsV2Token) {
  FakeMetadata imds([](const net::ServerRequest& r) {
    if (r.path == "/latest/api/token") {
      if (r.method != "PUT") return text(405, "");
      if (r.header("X-aws-ec2-metadata-token-ttl-seconds") != "21600") return text(400, "ttl");
      return text(200, "AQAEAFake-Token==");
    }
    if (r.path == "/latest/user-data") {
      if (r.header("X-aws-ec2-metadata-token") != "AQAEAFake-Token==") return text(401, "");
      return text(200, kDoc);
    }
    return text(404, "");
  });
  TempRoot root;
  net::HttpClient http;
  auto src = makeAwsSource(configFor(imds.url(), root), http);
  auto doc = src->fetch(soon());
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(*doc, kDoc);
  auto reqs = imds.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].method, "PUT");
  EXPECT_EQ(reqs[1].method, "GET");
}

TEST(SourcesTest, AwsFallsBackToImdsV1) {
  for (int tokenStatus : {403, 404, 405}) {
    FakeMetadata imds([tokenStatus](const net::ServerRequest& r) {
      if (r.path == "/latest/api/token") return text(tokenStatus, "");
      if (r.path == "/latest/user-data" && r.header("X-aws-ec2-metadata-token").empty()) return text(200, kDoc);
      return text(404, "");
    });
    TempRoot root;
    net::HttpClient http;
    auto doc = makeAwsSource(configFor(imds.url(), root), http)->fetch(soon());
    ASSERT_TRUE(doc) << tokenStatus << ": " << doc.error().message;
    EXPECT_EQ(*doc, kDoc);
  }
}

TEST(SourcesTest, AwsNeverSendsATokenThatCouldAddHeaders) {
  FakeMetadata imds([](const net::ServerRequest& r) {
    if (r.path == "/latest/api/token") return text(200, "tok\r\nX-Injected: 1");
    if (r.header("X-Injected").empty() && r.header("X-aws-ec2-metadata-token").empty()) return text(200, kDoc);
    return text(400, "");
  });
  TempRoot root;
  net::HttpClient http;
  auto doc = makeAwsSource(configFor(imds.url(), root), http)->fetch(soon());
  ASSERT_TRUE(doc) << doc.error().message;
}

TEST(SourcesTest, GcpNeedsTheFlavorHeaderAndDecodesBase64) {
  FakeMetadata md([](const net::ServerRequest& r) {
    if (r.header("Metadata-Flavor") != "Google") return text(403, "missing Metadata-Flavor");
    if (r.path == "/computeMetadata/v1/instance/attributes/user-data") {
      return text(200, encoding::base64Encode(kDoc));
    }
    return text(404, "");
  });
  TempRoot root;
  net::HttpClient http;
  auto doc = makeGcpSource(configFor(md.url(), root), http)->fetch(soon());
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(*doc, kDoc);
}

TEST(SourcesTest, AlibabaIsRaw) {
  FakeMetadata md([](const net::ServerRequest& r) {
    return r.path == "/latest/user-data" ? text(200, kDoc) : text(404, "");
  });
  TempRoot root;
  net::HttpClient http;
  auto doc = makeAlibabaSource(configFor(md.url(), root), http)->fetch(soon());
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(*doc, kDoc);
}

TEST(SourcesTest, ErrorsAreClear) {
  FakeMetadata md([](const net::ServerRequest& r) {
    if (r.path == "/latest/user-data") return text(404, "not yet");
    if (r.path == "/metadata/instance/compute/userData") return text(200, "not*base64");
    if (r.path == "/computeMetadata/v1/instance/attributes/user-data") {
      return text(200, std::string(kMaxUserDataBytes * 2, 'A'));
    }
    return text(500, "");
  });
  TempRoot root;
  net::HttpClient http;
  Config c = configFor(md.url(), root);
  auto a = makeAlibabaSource(c, http)->fetch(soon());
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("HTTP 404"), std::string::npos) << a.error().message;
  auto z = makeAzureSource(c, http)->fetch(soon());
  ASSERT_FALSE(z);
  EXPECT_NE(z.error().message.find("not valid base64"), std::string::npos) << z.error().message;
  auto g = makeGcpSource(c, http)->fetch(soon());
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("larger than"), std::string::npos) << g.error().message;
  // Nothing listens: a transport error, within the deadline.
  c.alibabaUrl = "http://127.0.0.1:1";
  auto t = makeAlibabaSource(c, http)->fetch(soon());
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("GET http://127.0.0.1:1/latest/user-data"), std::string::npos);
  // No time left: not even tried.
  auto late = makeAlibabaSource(configFor(md.url(), root), http)->fetch(Clock::now() - 1s);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, Code::kDeadlineExceeded);
}

TEST(SourcesTest, FileSourceRefusesOversizedFiles) {
  TempRoot root;
  writeText(root / "media/cidata/user-data", std::string(kMaxUserDataBytes + 1, 'x'));
  Config c = configFor("http://127.0.0.1:1", root);
  auto doc = makeFileSource(c)->fetch(soon());
  ASSERT_FALSE(doc);
  EXPECT_NE(doc.error().message.find("larger than"), std::string::npos);
}

// --- detection -----------------------------------------------------------------------------

std::string detected(const Config& c) {
  net::HttpClient http;
  auto s = detectSource(c, http, soon());
  return s ? s->describe() : "none";
}

TEST(SourcesTest, DetectionFollowsUpstreamOrder) {
  FakeMetadata gcp([](const net::ServerRequest& r) {
    if (r.path == "/computeMetadata/v1/instance" && r.header("Metadata-Flavor") == "Google") return text(200, "");
    return text(404, "");
  });
  FakeMetadata notGcp([](const net::ServerRequest&) { return text(404, ""); });
  TempRoot root;
  Config c = configFor(gcp.url(), root);
  EXPECT_EQ(detected(c), "none");
  c.hypervisorVendor = "KVMKVMKVM";
  EXPECT_EQ(detected(c).rfind("GCP metadata", 0), 0u);
  c.gcpUrl = notGcp.url();
  EXPECT_EQ(detected(c), "none");
  writeText(root / "sys/class/dmi/id/sys_vendor", "Alibaba Cloud\n");
  EXPECT_EQ(detected(c).rfind("Alibaba Cloud metadata", 0), 0u);
  writeText(root / "sys/class/dmi/id/sys_vendor", "Amazon EC2\n");
  EXPECT_EQ(detected(c).rfind("AWS IMDS", 0), 0u);
  c.hypervisorVendor = "Microsoft Hv";
  EXPECT_EQ(detected(c).rfind("Azure IMDS", 0), 0u);
  // A cidata device comes before any cloud.
  auto iso = cloudinit::buildNoCloudIso(kDoc, "instance-id: x\n");
  ASSERT_TRUE(iso) << iso.error().message;
  writeText(root / "dev/sr0", *iso);
  fs::create_directories(root / "sys/class/block/sr0");
  fs::create_directories(root / "sys/class/block/vda");  // no such device node: skipped
  EXPECT_EQ(detected(c), "cidata device " + (root / "dev/sr0").string() + " (iso9660)");
  // And the NoCloud file before everything.
  writeText(root / "media/cidata/user-data", kDoc);
  EXPECT_EQ(detected(c), "file " + (root / "media/cidata/user-data").string());
}

TEST(SourcesTest, CidataDeviceByLabelLink) {
  TempRoot root;
  auto iso = cloudinit::buildNoCloudIso(kDoc, "instance-id: x\n");
  ASSERT_TRUE(iso);
  writeText(root / "images/seed.iso", *iso);
  fs::create_directories(root / "dev/disk/by-label");
  fs::create_symlink(root / "images/seed.iso", root / "dev/disk/by-label/cidata");
  auto dev = findCidataDevice(root.str());
  ASSERT_TRUE(dev);
  EXPECT_EQ(dev->fsType, "iso9660");
  // An image with another label is not cidata.
  TempRoot other;
  writeText(other / "dev/sr0", std::string(64 * 1024, '\0'));
  fs::create_directories(other / "sys/class/block/sr0");
  EXPECT_FALSE(findCidataDevice(other.str()));
}

TEST(SourcesTest, DmiVendorIsTrimmed) {
  TempRoot root;
  EXPECT_EQ(dmiSystemVendor(root.str()), "");
  writeText(root / "sys/class/dmi/id/sys_vendor", "  Amazon EC2 \n");
  EXPECT_EQ(dmiSystemVendor(root.str()), "Amazon EC2");
}

}  // namespace
}  // namespace pp::userdata
