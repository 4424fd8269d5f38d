// The vsphere provider's pieces that need no vCenter: flags, GOVC_URL forms, thumbprints, the
// SOAP XML reader.
#include <gtest/gtest.h>

#include "providers/vsphere/soap_xml.h"
#include "providers/vsphere/vim_client.h"
#include "providers/vsphere/vsphere_provider.h"

namespace pp::providers::vsphere {
namespace {

TEST(VsphereFlagsTest, UpstreamNamesEnvironmentAndDefaults) {
  VsphereConfig c;
  flags::FlagSet fs("vsphere", flags::mapEnv({}));
  registerVsphereFlags(fs, c);
  struct Want {
    const char *name, *env, *def;
    bool required, secret;
  };
  const Want want[] = {
      {"user-name", "GOVC_USERNAME", "", true, true},
      {"password", "GOVC_PASSWORD", "", true, true},
      {"thumbprint", "GOVC_THUMBPRINT", "", false, true},
      {"vcenter-url", "GOVC_URL", "", true, false},
      {"template", "GOVC_TEMPLATE", "podvm-template", false, false},
      {"data-center", "GOVC_DATACENTER", "", true, false},
      {"data-store", "GOVC_DATASTORE", "", false, false},
      {"deploy-folder", "GOVC_FOLDER", "", false, false},
      {"cluster", "GOVC_VCLUSTER", "", false, false},
      {"drs", "GOVC_DRS", "false", false, false},
      {"host", "GOVC_HOST", "", false, false},
      {"vcenter-insecure", "GOVC_INSECURE", "false", false, false},
  };
  for (const auto& w : want) {
    const flags::Flag* f = fs.lookup(w.name);
    ASSERT_NE(f, nullptr) << w.name;
    EXPECT_EQ(f->env(), w.env) << w.name;
    EXPECT_EQ(f->value().toString(), w.def) << w.name;
    EXPECT_EQ(f->isRequired(), w.required) << w.name;
    EXPECT_EQ(f->isSecret(), w.secret) << w.name;
  }
  EXPECT_EQ(c.templateName, "podvm-template");
  EXPECT_EQ(c.drs, "false");
}

TEST(VsphereFlagsTest, EnvironmentIsApplied) {
  VsphereConfig c;
  flags::FlagSet fs("vsphere", flags::mapEnv({{"GOVC_URL", "vc.example.com"},
                                              {"GOVC_DRS", "true"},
                                              {"GOVC_INSECURE", "true"},
                                              {"GOVC_FOLDER", "a/b"}}));
  registerVsphereFlags(fs, c);
  EXPECT_EQ(c.vcenterUrl, "vc.example.com");
  EXPECT_EQ(c.drs, "true");
  EXPECT_TRUE(c.insecure);
  EXPECT_EQ(c.deployFolder, "a/b");
}

TEST(VsphereUrlTest, GovcForms) {
  auto a = parseVcenterUrl("vc.example.com");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->url, "https://vc.example.com/sdk");
  auto b = parseVcenterUrl("https://u%40x:p@w@vc.example.com:8443");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->url, "https://vc.example.com:8443/sdk");
  EXPECT_EQ(b->user, "u@x");
  EXPECT_EQ(b->password, "p@w");
  auto c = parseVcenterUrl("https://10.0.0.5/sdk");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->url, "https://10.0.0.5/sdk");
  auto plain = parseVcenterUrl("http://vc.example.com/sdk");
  ASSERT_FALSE(plain);
  EXPECT_NE(plain.error().message.find("GOVC_URL"), std::string::npos);
  EXPECT_FALSE(parseVcenterUrl(""));
}

TEST(VsphereThumbprintTest, NormalizedAndChecked) {
  auto t = normalizeThumbprint("2c11edd713877db57418b81c42c2561f0db95bb9");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, "2C:11:ED:D7:13:87:7D:B5:74:18:B8:1C:42:C2:56:1F:0D:B9:5B:B9");
  auto same = normalizeThumbprint("2C:11:ED:D7:13:87:7D:B5:74:18:B8:1C:42:C2:56:1F:0D:B9:5B:B9");
  ASSERT_TRUE(same);
  EXPECT_EQ(*same, *t);
  auto shortOne = normalizeThumbprint("AA:BB");
  ASSERT_FALSE(shortOne);
  EXPECT_NE(shortOne.error().message.find("-thumbprint"), std::string::npos);
  EXPECT_FALSE(normalizeThumbprint("ZZ:11:ED:D7:13:87:7D:B5:74:18:B8:1C:42:C2:56:1F:0D:B9:5B:B9"));
  // SHA-1 of "abc".
  EXPECT_EQ(thumbprintOf("abc"), "A9:99:3E:36:47:06:81:6A:BA:3E:25:71:78:50:C2:6C:9C:D0:D8:9D");
}

TEST(VsphereXmlTest, KeepsTypeAttributesAndRefusesEntities) {
  auto doc = parseSoapXml(
      "<?xml version=\"1.0\"?><a xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
      "<returnval type=\"VirtualMachine\">vm-57</returnval>"
      "<val xsi:type=\"xsd:string\">x &amp; y</val><empty/>"
      "<ref xmlns:q=\"http://www.w3.org/2001/XMLSchema-instance\" q:type=\"MoRef\" "
      "type=\"Folder\">group-d1</ref></a>");
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(moRefOf(doc->child("returnval")), (MoRef{"VirtualMachine", "vm-57"}));
  EXPECT_EQ(doc->child("val")->attribute("xsi:type"), "xsd:string");
  EXPECT_EQ(doc->child("val")->attribute("type"), "");
  EXPECT_EQ(doc->childText("val"), "x & y");
  EXPECT_NE(doc->child("empty"), nullptr);
  EXPECT_EQ(moRefOf(doc->child("ref")), (MoRef{"Folder", "group-d1"}));
  EXPECT_EQ(doc->child("ref")->attribute("xsi:type"), "MoRef");
  EXPECT_FALSE(parseSoapXml("<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>"));
  EXPECT_FALSE(parseSoapXml("<a><b></a>"));
  EXPECT_FALSE(parseSoapXml("<a/><b/>"));
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "<d>";
  for (int i = 0; i < 100; ++i) deep += "</d>";
  auto tooDeep = parseSoapXml(deep);
  ASSERT_FALSE(tooDeep);
  EXPECT_EQ(tooDeep.error().code, Code::kResourceExhausted);
  EXPECT_EQ(xmlEscape("<a href='x'>&\"</a>"), "&lt;a href=&apos;x&apos;&gt;&amp;&quot;&lt;/a&gt;");
}

TEST(VsphereFaultTest, TypeIsReadBackFromTheMessage) {
  EXPECT_EQ(faultTypeOf(Error{Code::kUnauthenticated,
                              "vsphere: FindByUuid: NotAuthenticated: session gone"}),
            "NotAuthenticated");
  EXPECT_EQ(faultTypeOf(Error{Code::kUnavailable, "vsphere: Login: connection refused"}), "");
  EXPECT_EQ(faultTypeOf(Error{Code::kUnavailable, "other"}), "");
}

TEST(VsphereConfigTest, PlacementSettingsAreChecked) {
  VsphereConfig c;
  c.userName = "u";
  c.password = "p";
  c.vcenterUrl = "https://127.0.0.1:1/sdk";
  c.datacenter = "DC0";
  c.drs = "true";
  auto noCluster = VsphereProvider::create(c);
  ASSERT_FALSE(noCluster);
  EXPECT_NE(noCluster.error().message.find("-cluster"), std::string::npos);
  c.drs = "false";
  auto noHost = VsphereProvider::create(c);
  ASSERT_FALSE(noHost);
  EXPECT_NE(noHost.error().message.find("-host"), std::string::npos);
  c.drs = "maybe";
  auto bad = VsphereProvider::create(c);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("-drs"), std::string::npos);
}

}  // namespace
}  // namespace pp::providers::vsphere
