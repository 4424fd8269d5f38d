// The user-data sources against local HTTP servers (headers, IMDSv2 token flow and the
// IMDSv1 fallback only when allowed, base64, status codes, size limits) and the detection
// order (CPUID and DMI only).
#include "userdata/sources.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "base/encoding.h"
#include "cloudinit/nocloud_iso.h"
#include "userdata/cidata_device.h"
#include "userdata/platform.h"
#include "userdata/test_util.h"

namespace pp::userdata {
namespace {

using namespace testing;
using namespace std::chrono_literals;

const std::string kDoc =
    "#cloud-config\nwrite_files:\n- path: /run/peerpod/apf.json\n  content: '{}'\n";

Clock::time_point soon() {
  return Clock::now() + 5s;
}

std::string detected(const Config& c);

Config configFor(const std::string& url, const TempRoot& root) {
  Config c;
  c.root = root.str();
  c.azureUrl = c.awsUrl = c.gcpUrl = c.alibabaUrl = url;
  c.hypervisorVendor = "";
  c.requestTimeout = 2000ms;
  return c;
}

net::ServerResponse text(int status, std::string body) {
  return net::ServerResponse{status, {}, std::move(body)};
}

TEST(SourcesTest, AzureNeedsTheMetadataHeaderAndDecodesBase64) {
  FakeMetadata imds([](const net::ServerRequest& r) {
    if (r.path != "/metadata/instance/compute/userData") return text(404, "no");
    if (r.queryParam("api-version") != "2021-01-01" || r.queryParam("format") != "text")
      return text(400, "query");
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

// An IMDSv1-only answerer (no token endpoint) must not supply the user data by default: the
// token failure is an error, and the GET is not even sent.
TEST(SourcesTest, AwsDoesNotFallBackToImdsV1ByDefault) {
  for (int tokenStatus : {403, 404, 405}) {
    FakeMetadata imds([tokenStatus](const net::ServerRequest& r) {
      if (r.path == "/latest/api/token") return text(tokenStatus, "");
      if (r.path == "/latest/user-data" && r.header("X-aws-ec2-metadata-token").empty())
        return text(200, kDoc);
      return text(404, "");
    });
    TempRoot root;
    net::HttpClient http;
    auto doc = makeAwsSource(configFor(imds.url(), root), http)->fetch(soon());
    ASSERT_FALSE(doc) << tokenStatus;
    EXPECT_NE(doc.error().message.find("PEERPODS_USERDATA_AWS_IMDSV1=allow"), std::string::npos)
        << doc.error().message;
    ASSERT_EQ(imds.requests().size(), 1u);
    EXPECT_EQ(imds.requests()[0].method, "PUT");
  }
}

TEST(SourcesTest, AwsFallsBackToImdsV1OnlyWhenAllowed) {
  for (int tokenStatus : {403, 404, 405}) {
    FakeMetadata imds([tokenStatus](const net::ServerRequest& r) {
      if (r.path == "/latest/api/token") return text(tokenStatus, "");
      if (r.path == "/latest/user-data" && r.header("X-aws-ec2-metadata-token").empty())
        return text(200, kDoc);
      return text(404, "");
    });
    TempRoot root;
    net::HttpClient http;
    Config c = configFor(imds.url(), root);
    c.awsImdsV1Allowed = true;
    auto doc = makeAwsSource(c, http)->fetch(soon());
    ASSERT_TRUE(doc) << tokenStatus << ": " << doc.error().message;
    EXPECT_EQ(*doc, kDoc);
  }
}

TEST(SourcesTest, AwsNeverSendsATokenThatCouldAddHeaders) {
  FakeMetadata imds([](const net::ServerRequest& r) {
    if (r.path == "/latest/api/token") return text(200, "tok\r\nX-Injected: 1");
    if (r.header("X-Injected").empty() && r.header("X-aws-ec2-metadata-token").empty())
      return text(200, kDoc);
    return text(400, "");
  });
  TempRoot root;
  net::HttpClient http;
  Config c = configFor(imds.url(), root);
  auto refused = makeAwsSource(c, http)->fetch(soon());
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("not printable text"), std::string::npos)
      << refused.error().message;
  c.awsImdsV1Allowed = true;
  auto doc = makeAwsSource(c, http)->fetch(soon());
  ASSERT_TRUE(doc) << doc.error().message;
}

TEST(SourcesTest, ImdsV1SettingParses) {
  Config c;
  EXPECT_FALSE(c.awsImdsV1Allowed);
  ASSERT_TRUE(c.applyEnvironment(flags::mapEnv({{"PEERPODS_USERDATA_AWS_IMDSV1", "allow"}})));
  EXPECT_TRUE(c.awsImdsV1Allowed);
  ASSERT_TRUE(c.applyEnvironment(flags::mapEnv({{"PEERPODS_USERDATA_AWS_IMDSV1", "deny"}})));
  EXPECT_FALSE(c.awsImdsV1Allowed);
  auto bad = c.applyEnvironment(flags::mapEnv({{"PEERPODS_USERDATA_AWS_IMDSV1", "yes"}}));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("must be allow or deny"), std::string::npos);
}

// GCP's metadata server is reached by its link-local address, not by a name that DNS (or a
// search domain) could send elsewhere.
TEST(SourcesTest, GcpMetadataIsPinnedToTheLinkLocalAddress) {
  Config c;
  EXPECT_EQ(c.gcpUrl, "http://169.254.169.254");
  net::HttpClient http;
  EXPECT_EQ(makeGcpSource(c, http)->describe(),
            "GCP metadata http://169.254.169.254/computeMetadata/v1/instance/attributes/user-data");
}

TEST(SourcesTest, GcpNeedsTheFlavorHeaderBothWaysAndDecodesBase64) {
  FakeMetadata md([](const net::ServerRequest& r) {
    if (r.header("Metadata-Flavor") != "Google") return text(403, "missing Metadata-Flavor");
    if (r.path == "/computeMetadata/v1/instance/attributes/user-data") {
      return net::ServerResponse{
          200, {{"Metadata-Flavor", "Google"}}, encoding::base64Encode(kDoc)};
    }
    return text(404, "");
  });
  TempRoot root;
  net::HttpClient http;
  auto doc = makeGcpSource(configFor(md.url(), root), http)->fetch(soon());
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(*doc, kDoc);
  // An answer without the flavor header is not from the metadata server.
  FakeMetadata impostor(
      [](const net::ServerRequest&) { return text(200, encoding::base64Encode(kDoc)); });
  auto refused = makeGcpSource(configFor(impostor.url(), root), http)->fetch(soon());
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("no Metadata-Flavor: Google header"), std::string::npos)
      << refused.error().message;
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

// The NoCloud file is read only when it is a regular file: a link is not followed (it could
// point anywhere, e.g. at a device), and a FIFO does not block the boot.
TEST(SourcesTest, FileSourceRefusesLinksAndFifos) {
  TempRoot root;
  writeText(root / "elsewhere/user-data", kDoc);
  fs::create_directories(root / "media/cidata");
  fs::create_symlink(root / "elsewhere/user-data", root / "media/cidata/user-data");
  Config c = configFor("http://127.0.0.1:1", root);
  auto linked = makeFileSource(c)->fetch(soon());
  ASSERT_FALSE(linked);
  EXPECT_NE(linked.error().message.find("symbolic link"), std::string::npos)
      << linked.error().message;
  // Detection still picks the file source (so the link is reported, not silently skipped).
  EXPECT_EQ(detected(c), "file " + (root / "media/cidata/user-data").string());
  fs::remove(root / "media/cidata/user-data");
  ASSERT_EQ(::mkfifo((root / "media/cidata/user-data").c_str(), 0600), 0);
  const auto start = Clock::now();
  auto fifo = makeFileSource(c)->fetch(soon());
  ASSERT_FALSE(fifo);
  EXPECT_NE(fifo.error().message.find("not a regular file"), std::string::npos)
      << fifo.error().message;
  EXPECT_LT(Clock::now() - start, 2s);
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

// Whoever answers at a metadata address does not make this machine that cloud: on KVM with a
// GCP-like server answering, nothing is detected unless DMI says Google.
TEST(SourcesTest, DetectionNeverAsksTheNetwork) {
  FakeMetadata gcp([](const net::ServerRequest& r) {
    if (r.header("Metadata-Flavor") == "Google") {
      return net::ServerResponse{
          200, {{"Metadata-Flavor", "Google"}}, encoding::base64Encode(kDoc)};
    }
    return text(403, "");
  });
  TempRoot root;
  Config c = configFor(gcp.url(), root);
  c.hypervisorVendor = "KVMKVMKVM";
  EXPECT_EQ(detected(c), "none");
  EXPECT_TRUE(gcp.requests().empty());
  writeText(root / "sys/class/dmi/id/product_name", "Google Compute Engine\n");
  EXPECT_EQ(detected(c).rfind("GCP metadata", 0), 0u);
  fs::remove(root / "sys/class/dmi/id/product_name");
  writeText(root / "sys/class/dmi/id/sys_vendor", "Google\n");
  c.hypervisorVendor = "";  // GCP without a CPUID hypervisor leaf (e.g. Arm): DMI is enough
  EXPECT_EQ(detected(c).rfind("GCP metadata", 0), 0u);
  EXPECT_TRUE(gcp.requests().empty());
}

TEST(SourcesTest, DetectionFollowsUpstreamOrder) {
  TempRoot root;
  Config c = configFor("http://127.0.0.1:1", root);
  EXPECT_EQ(detected(c), "none");
  c.hypervisorVendor = "KVMKVMKVM";
  EXPECT_EQ(detected(c), "none");
  writeText(root / "sys/class/dmi/id/sys_vendor", "Google\n");
  EXPECT_EQ(detected(c).rfind("GCP metadata", 0), 0u);
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

// A stand-in for VMware tools' vmware-rpctool: answers "info-get <key>" from files in `dir`
// (exit 1, as the tool, for a key that is not set).
fs::path fakeRpctool(const TempRoot& root) {
  fs::path tool = root / "bin/vmware-rpctool";
  writeText(tool,
            "#!/bin/sh\n"
            "key=${1#info-get }\n"
            "f=\"" +
                (root / "guestinfo").string() +
                "/$key\"\n"
                "[ -f \"$f\" ] || { echo 'No value found' >&2; exit 1; }\n"
                "cat \"$f\"\n");
  fs::permissions(tool, fs::perms::owner_all);
  return tool;
}

TEST(SourcesTest, VmwareGuestinfoBase64AsTheVsphereProviderSetsIt) {
  TempRoot root;
  Config c = configFor("http://127.0.0.1:1", root);
  c.vmwareRpctool = fakeRpctool(root).string();
  writeText(root / "guestinfo/guestinfo.userdata", encoding::base64Encode(kDoc) + "\n");
  writeText(root / "guestinfo/guestinfo.userdata.encoding", "base64\n");
  auto doc = makeVmwareSource(c)->fetch(soon());
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(*doc, kDoc);
  // Without an encoding the value is the document itself.
  fs::remove(root / "guestinfo/guestinfo.userdata.encoding");
  writeText(root / "guestinfo/guestinfo.userdata", kDoc);
  auto plain = makeVmwareSource(c)->fetch(soon());
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(*plain, kDoc.substr(0, kDoc.size() - 1));  // the tool's trailing newline dropped
  writeText(root / "guestinfo/guestinfo.userdata.encoding", "gzip+base64\n");
  auto gz = makeVmwareSource(c)->fetch(soon());
  ASSERT_FALSE(gz);
  EXPECT_NE(gz.error().message.find("gzip+base64"), std::string::npos);
}

TEST(SourcesTest, VmwareGuestinfoMissingIsAnErrorNamingTheTool) {
  TempRoot root;
  Config c = configFor("http://127.0.0.1:1", root);
  c.vmwareRpctool = fakeRpctool(root).string();
  auto none = makeVmwareSource(c)->fetch(soon());
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("guestinfo.userdata"), std::string::npos);
  c.vmwareRpctool = (root / "bin/no-such-tool").string();
  auto missing = makeVmwareSource(c)->fetch(soon());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("open-vm-tools"), std::string::npos)
      << missing.error().message;
}

TEST(SourcesTest, VmwareIsDetectedByHypervisorOrDmiAfterTheClouds) {
  TempRoot root;
  Config c = configFor("http://127.0.0.1:1", root);
  c.hypervisorVendor = "VMwareVMware";
  EXPECT_EQ(detected(c).rfind("VMware guestinfo", 0), 0u);
  c.hypervisorVendor = "";
  writeText(root / "sys/class/dmi/id/sys_vendor", "VMware, Inc.\n");
  EXPECT_EQ(detected(c).rfind("VMware guestinfo", 0), 0u);
  // The NoCloud file still comes first.
  writeText(root / "media/cidata/user-data", kDoc);
  EXPECT_EQ(detected(c).rfind("file ", 0), 0u);
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

TEST(SourcesTest, DmiValuesAreTrimmed) {
  TempRoot root;
  EXPECT_EQ(dmiSystemVendor(root.str()), "");
  EXPECT_EQ(dmiProductName(root.str()), "");
  writeText(root / "sys/class/dmi/id/sys_vendor", "  Amazon EC2 \n");
  writeText(root / "sys/class/dmi/id/product_name", "Google Compute Engine\n");
  EXPECT_EQ(dmiSystemVendor(root.str()), "Amazon EC2");
  EXPECT_EQ(dmiProductName(root.str()), "Google Compute Engine");
}

}  // namespace
}  // namespace pp::userdata
