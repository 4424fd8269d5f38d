// apf.json against what Go's encoding/json writes for upstream's forwarder.Config: the golden
// files in testdata/ were written by testdata/go/apfgo from the same values as cases() below
// (apf_go_test runs that program live when Go is installed).
#include "apf/apf_config.h"

#include <gtest/gtest.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "apf_test_cases.h"

namespace pp::apf {
namespace {

std::string golden(const std::string& name) {
  std::ifstream in(std::string(PP_APF_TESTDATA) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in) << "missing golden file " << name;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void expectParseError(std::string_view text, std::string_view mention) {
  auto c = ApfConfig::parse(text);
  ASSERT_FALSE(c) << text;
  EXPECT_EQ(c.error().code, Code::kInvalidArgument) << text;
  EXPECT_NE(c.error().message.find(mention), std::string::npos)
      << text << " -> " << c.error().message;
  EXPECT_EQ(c.error().message.rfind("apf.json", 0), 0u) << c.error().message;
}

TEST(ApfConfig, WritesWhatGoMarshalWrites) {
  for (const auto& [name, config] : testcases::all()) {
    EXPECT_EQ(config.toJson(), golden(name + ".json")) << name;
    EXPECT_EQ(config.toJsonIndented(), golden(name + ".indented.json")) << name;
  }
}

TEST(ApfConfig, ReadsWhatGoMarshalWrites) {
  for (const auto& [name, config] : testcases::all()) {
    for (const std::string& file : {name + ".json", name + ".indented.json"}) {
      auto parsed = ApfConfig::parse(golden(file));
      ASSERT_TRUE(parsed) << file << ": " << parsed.error().toString();
      if (name == "invalid-utf8") {
        // Go wrote each invalid byte as \ufffd: that is what comes back.
        EXPECT_EQ(parsed->podName,
                  "bad\xEF\xBF\xBD"
                  "byte\xEF\xBF\xBD")
            << file;
      } else {
        EXPECT_EQ(*parsed, config) << file;
      }
    }
  }
}

TEST(ApfConfig, PemsAreTextNotBase64) {
  const ApfConfig& c = testcases::all().at("tls");
  std::string json = c.toJson();
  EXPECT_NE(json.find("\"tls-server-cert\":\"-----BEGIN CERTIFICATE-----\\nMIIB"),
            std::string::npos)
      << json;
  // A base64 document (what this project wrote before) is read as the text it is: the
  // forwarder then fails on the PEM, not here.
  auto old = ApfConfig::parse(R"({"tls-server-cert":"LS0tLS1CRUdJTg=="})");
  ASSERT_TRUE(old);
  EXPECT_EQ(old->tlsServerCert, "LS0tLS1CRUdJTg==");
}

TEST(ApfConfig, EmptyFieldsFollowOmitempty) {
  ApfConfig empty;
  EXPECT_EQ(empty.toJson(), R"({"pod-network":null,"pod-namespace":"","pod-name":""})");
  EXPECT_EQ(
      empty.toJsonIndented(),
      "{\n    \"pod-network\": null,\n    \"pod-namespace\": \"\",\n    \"pod-name\": \"\"\n}");
  ApfConfig network;
  network.podNetwork.emplace();
  network.podNetwork->tunnelType = "";
  EXPECT_EQ(
      network.toJson(),
      R"({"pod-network":{"podip":"","pod-hw-addr":"","interface":"","worker-node-ip":"",)"
      R"("tunnel-type":"","routes":null,"neighbors":null,"mtu":0,"index":0,)"
      R"("dedicated":false,"external-net-via-pod-vm":false},"pod-namespace":"","pod-name":""})");
  auto back = ApfConfig::parse(network.toJson());
  ASSERT_TRUE(back) << back.error().toString();
  EXPECT_EQ(*back, network);
}

TEST(ApfConfig, EscapesLikeCurrentGo) {
  // Go 1.22 and later (upstream's toolchain) write \b and \f; older Go wrote \u0008, \u000c.
  ApfConfig c;
  c.podName = std::string("\b\f\x00\x1b", 4);
  EXPECT_EQ(c.toJson(), R"({"pod-network":null,"pod-namespace":"","pod-name":"\b\f\u0000\u001b"})");
  auto back = ApfConfig::parse(c.toJson());
  ASSERT_TRUE(back) << back.error().toString();
  EXPECT_EQ(back->podName, c.podName);
  // Indenting leaves string contents alone, brackets and colons inside them included.
  c.podName = "{\"a\": [1, 2]}\\";
  EXPECT_EQ(c.toJsonIndented(),
            "{\n    \"pod-network\": null,\n    \"pod-namespace\": \"\",\n"
            "    \"pod-name\": \"{\\\"a\\\": [1, 2]}\\\\\"\n}");
}

TEST(ApfConfig, InvalidUtf8IsReplacedPerByte) {
  ApfConfig c;
  // Overlong, surrogate, past U+10FFFF, truncated: each bad byte becomes one \ufffd, as
  // utf8.DecodeRuneInString reports them.
  c.podName = "\xC0\xAF|\xED\xA0\x80|\xF4\x90\x80\x80|\xE2\x82";
  EXPECT_EQ(c.toJson(),
            R"({"pod-network":null,"pod-namespace":"","pod-name":)"
            R"("\ufffd\ufffd|\ufffd\ufffd\ufffd|\ufffd\ufffd\ufffd\ufffd|\ufffd\ufffd"})");
}

TEST(ApfConfig, DecodesLikeGo) {
  // Unknown keys are ignored, null leaves a field unset, the last of repeated keys wins and keys
  // match case-insensitively, also inside pod-network.
  auto c = ApfConfig::parse(R"({
      "a-key-from-the-future": {"x": [1, 2]},
      "POD-NAME": "first", "pod-name": "second",
      "Pod-Namespace": "default", "pod-namespace": null,
      "tls-server-key": null,
      "TLS-Cipher-Suites": ["TLS_AES_128_GCM_SHA256", null],
      "sc-pp-prv": "AP8Q\ngGtleX8=\r\n",
      "sc-wn-pub": [0, 255, 16],
      "SC": true,
      "pod-network": {"PodIP": "10.0.0.2/24", "Routes": [{"DST": "10.1.0.0/16", "Dev": "eth0"}],
                      "VXLAN-ID": 7, "unknown": 1}})");
  ASSERT_TRUE(c) << c.error().toString();
  EXPECT_EQ(c->podName, "second");
  EXPECT_EQ(c->podNamespace, "default");
  EXPECT_TRUE(c->tlsServerKey.empty());
  EXPECT_EQ(c->tlsCipherSuites, (std::vector<std::string>{"TLS_AES_128_GCM_SHA256", ""}));
  EXPECT_EQ(c->ppPrivateKey, std::string("\x00\xff\x10\x80key\x7f", 8));
  EXPECT_EQ(c->wnPublicKey, std::string("\x00\xff\x10", 3));
  EXPECT_TRUE(c->secureComms);
  ASSERT_TRUE(c->podNetwork);
  EXPECT_EQ(c->podNetwork->podIp->toString(), "10.0.0.2/24");
  ASSERT_EQ(c->podNetwork->routes.size(), 1u);
  EXPECT_EQ(c->podNetwork->routes[0].dst->toString(), "10.1.0.0/16");
  EXPECT_EQ(c->podNetwork->routes[0].dev, "eth0");
  EXPECT_EQ(c->podNetwork->vxlanId, 7u);
  // The two non-ASCII letters Go folds onto ASCII ones: long s and the Kelvin sign.
  auto folded = ApfConfig::parse(
      "{\"pod-name\xC5\xBF\": 1, \"tls-server-\xE2\x84\xAA"
      "ey\": \"k\"}");
  ASSERT_TRUE(folded) << folded.error().toString();  // "pod-nameſ" is no key of ours
  EXPECT_EQ(folded->tlsServerKey, "k");
  // pod-network: null after a value clears it; "[]" and null lists are both empty.
  auto cleared = ApfConfig::parse(R"({"pod-network": {"mtu": 1}, "Pod-Network": null})");
  ASSERT_TRUE(cleared);
  EXPECT_FALSE(cleared->podNetwork);
  auto lists = ApfConfig::parse(R"({"pod-network": {"routes": [], "neighbors": null}})");
  ASSERT_TRUE(lists) << lists.error().toString();
  EXPECT_TRUE(lists->podNetwork->routes.empty());
  EXPECT_TRUE(lists->podNetwork->neighbors.empty());
}

TEST(ApfConfig, BadInputIsAClearError) {
  expectParseError("", "not valid JSON");
  expectParseError("{\"pod-name\": ", "not valid JSON");
  expectParseError("{} {}", "not valid JSON");  // Go's Unmarshal refuses trailing data too
  expectParseError("{\"pod-name\": \"\xff\"}", "UTF-8");
  expectParseError("[1, 2]", "must be a JSON object, not array");
  expectParseError("null", "must be a JSON object, not null");
  expectParseError("\"apf\"", "must be a JSON object, not string");
  expectParseError(R"({"pod-name": 5})", "\"pod-name\" must be a string, not number");
  expectParseError(R"({"pod-namespace": {}})", "\"pod-namespace\" must be a string, not object");
  expectParseError(R"({"tls-server-cert": ["a"]})", "\"tls-server-cert\" must be a string");
  expectParseError(R"({"Tls-Client-CA": 12})", "\"tls-client-ca\" must be a string");
  expectParseError(R"({"tls-cipher-suites": "TLS_AES_128_GCM_SHA256"})",
                   "\"tls-cipher-suites\" must be an array of strings, not string");
  expectParseError(R"({"tls-cipher-suites": ["a", 1]})",
                   "\"tls-cipher-suites[1]\" must be a string");
  expectParseError(R"({"sc": "true"})", "\"sc\" must be true or false, not string");
  expectParseError(R"({"sc-pp-prv": "not base64!"})",
                   "\"sc-pp-prv\" is not standard padded base64");
  expectParseError(R"({"sc-wn-pub": "AP8"})", "\"sc-wn-pub\" is not standard padded base64");
  expectParseError(R"({"sc-wn-pub": [1, 256]})", "\"sc-wn-pub[1]\" must be an integer 0..255");
  expectParseError(R"({"sc-wn-pub": 5})", "\"sc-wn-pub\" must be a base64 string, not number");
  expectParseError(R"({"pod-network": "vxlan"})",
                   "\"pod-network\" must be an object or null, not string");
  expectParseError(R"({"pod-network": {"podip": "10.0.0.300/24"}})", "podip");
  expectParseError(R"({"pod-network": {"mtu": "1450"}})", "\"mtu\" must be an integer");
  expectParseError(R"({"pod-network": {"routes": [{"scope": "galaxy"}]}})", "galaxy");
}

TEST(ApfConfig, SizeIsBounded) {
  std::string doc = "{\"pod-name\": \"" + std::string(kMaxApfJsonBytes, 'x') + "\"}";
  expectParseError(doc, "more than the 1048576");
  // Just under the bound is fine.
  std::string fits = "{\"pod-name\":\"" + std::string(kMaxApfJsonBytes - 15, 'x') + "\"}";
  ASSERT_EQ(fits.size(), kMaxApfJsonBytes);
  EXPECT_TRUE(ApfConfig::parse(fits));
}

TEST(ApfConfig, LoadNamesThePath) {
  auto missing = ApfConfig::load("/nonexistent/peerpod/apf.json");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Code::kNotFound);
  EXPECT_NE(missing.error().message.find("/nonexistent/peerpod/apf.json"), std::string::npos)
      << missing.error().message;

  auto dir = std::filesystem::temp_directory_path() / ("apf-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "apf.json").string();
  std::ofstream(path) << "{\"pod-name\": 1}";
  auto bad = ApfConfig::load(path);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find(path), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("pod-name"), std::string::npos) << bad.error().message;
  const ApfConfig& tls = testcases::all().at("tls");
  std::ofstream(path, std::ios::trunc) << tls.toJsonIndented();
  auto good = ApfConfig::load(path);
  ASSERT_TRUE(good) << good.error().toString();
  EXPECT_EQ(*good, tls);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pp::apf
