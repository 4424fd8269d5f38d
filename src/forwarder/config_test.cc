// apf.json, flags and listen addresses.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "forwarder/forwarder.h"

namespace pp::forwarder {
namespace {

TEST(ApfConfig, ReadsWhatTheAdaptorWrites) {
  nlohmann::json apf = {
      {"pod-namespace", "/run/netns/podns"},
      {"pod-name", "nginx"},
      {"pod-network",
       {{"podip", "10.244.1.5/24"},
        {"interface", "eth0"},
        {"worker-node-ip", "192.168.0.2/24"},
        {"tunnel-type", "vxlan"},
        {"vxlan-port", 4789},
        {"vxlan-id", 555001},
        {"mtu", 1450}}},
      {"tls-server-key", encoding::base64Encode("KEY PEM")},
      {"tls-server-cert", encoding::base64Encode("CERT PEM")},
      {"tls-client-ca", encoding::base64Encode("CA PEM")},
      {"sc-pp-prv", encoding::base64Encode("ignored")},
      {"sc", true},
      {"a-key-from-the-future", {1, 2}},
  };
  auto c = ApfConfig::parse(apf.dump());
  ASSERT_TRUE(c) << c.error().toString();
  EXPECT_EQ(c->podNamespace, "/run/netns/podns");
  EXPECT_EQ(c->podName, "nginx");
  EXPECT_EQ(c->tlsServerKey, "KEY PEM");
  EXPECT_EQ(c->tlsServerCert, "CERT PEM");
  EXPECT_EQ(c->tlsClientCa, "CA PEM");
  ASSERT_TRUE(c->podNetwork);
  EXPECT_EQ(c->podNetwork->interfaceName, "eth0");
  EXPECT_EQ(c->podNetwork->vxlanId, 555001u);
}

TEST(ApfConfig, NullAndAbsentKeysAreUnset) {
  auto c = ApfConfig::parse(R"({"pod-network": null, "tls-server-cert": null})");
  ASSERT_TRUE(c) << c.error().toString();
  EXPECT_FALSE(c->podNetwork);
  EXPECT_TRUE(c->tlsServerCert.empty());
  EXPECT_TRUE(ApfConfig::parse("{}"));
}

TEST(ApfConfig, BadInputIsAClearError) {
  struct Case {
    const char* json;
    const char* mention;
  };
  for (const auto& [json, mention] : std::initializer_list<Case>{
           {"", "not valid JSON"},
           {"{\"pod-name\": ", "not valid JSON"},
           {"[1, 2]", "JSON object"},
           {R"({"pod-name": 5})", "\"pod-name\" must be a string"},
           {R"({"pod-namespace": {}})", "\"pod-namespace\" must be a string"},
           {R"({"tls-server-key": "not base64!"})", "\"tls-server-key\" is not base64"},
           {R"({"tls-client-ca": 12})", "\"tls-client-ca\" must be a string"},
           {R"({"pod-network": "vxlan"})", "pod-network"},
           {R"({"pod-network": {"podip": "10.0.0.300/24"}})", "podip"},
       }) {
    auto c = ApfConfig::parse(json);
    ASSERT_FALSE(c) << json;
    EXPECT_EQ(c.error().code, Code::kInvalidArgument) << json;
    EXPECT_NE(c.error().message.find(mention), std::string::npos)
        << json << " -> " << c.error().message;
  }
}

TEST(ApfConfig, MissingFileNamesThePath) {
  auto c = ApfConfig::load("/nonexistent/peerpod/apf.json");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Code::kNotFound);
  EXPECT_NE(c.error().message.find("/nonexistent/peerpod/apf.json"), std::string::npos)
      << c.error().message;
}

TEST(Options, UpstreamDefaults) {
  Options o;
  flags::FlagSet fs("agent-protocol-forwarder", flags::mapEnv({}));
  o.registerFlags(fs);
  auto r = fs.parse({});
  ASSERT_TRUE(r);
  EXPECT_EQ(o.configPath, "/run/peerpod/apf.json");
  EXPECT_EQ(o.listen, "0.0.0.0:15150");
  EXPECT_EQ(o.agentSocket, "/run/kata-containers/agent.sock");
  EXPECT_EQ(o.podNamespace, "/run/netns/podns");
  EXPECT_FALSE(o.disableTls);
  EXPECT_FALSE(o.secureComms);
  EXPECT_FALSE(o.noPodNetwork);
  EXPECT_EQ(o.maxPendingHandshakes, 64u);
  EXPECT_EQ(o.handshakeTimeout, std::chrono::seconds(10));
  EXPECT_EQ(o.idleTimeout, std::chrono::minutes(10));
}

TEST(Options, ConnectionLimitFlags) {
  Options o;
  flags::FlagSet fs("agent-protocol-forwarder", flags::mapEnv({}));
  o.registerFlags(fs);
  auto r =
      fs.parse({"-max-pending-handshakes", "8", "-handshake-timeout", "3s", "-idle-timeout", "0"});
  ASSERT_TRUE(r) << r.error().toString();
  EXPECT_EQ(o.maxPendingHandshakes, 8u);
  EXPECT_EQ(o.handshakeTimeout, std::chrono::seconds(3));
  EXPECT_EQ(o.idleTimeout.count(), 0);
}

TEST(Options, GoFlagSyntax) {
  Options o;
  flags::FlagSet fs("agent-protocol-forwarder", flags::mapEnv({{"LISTEN", "ignored:1"}}));
  o.registerFlags(fs);
  auto r = fs.parse({"-listen", "127.0.0.1:1234", "--config=/tmp/apf.json", "-disable-tls",
                     "--tls-skip-verify=true", "-secure-comms-inbounds", "KUBERNETES_PHASE:X:0",
                     "-no-pod-network", "-pod-namespace=/run/netns/x", "-cert-file", "/c",
                     "-cert-key", "/k", "-ca-cert-file", "/ca", "-host-interface", "ens4"});
  ASSERT_TRUE(r) << r.error().toString();
  EXPECT_EQ(o.listen, "127.0.0.1:1234");
  EXPECT_EQ(o.configPath, "/tmp/apf.json");
  EXPECT_TRUE(o.disableTls);
  EXPECT_TRUE(o.tlsSkipVerify);
  EXPECT_TRUE(o.noPodNetwork);
  EXPECT_EQ(o.secureCommsInbounds, "KUBERNETES_PHASE:X:0");
  EXPECT_EQ(o.podNamespace, "/run/netns/x");
  EXPECT_EQ(o.certFile, "/c");
  EXPECT_EQ(o.certKey, "/k");
  EXPECT_EQ(o.caCertFile, "/ca");
  EXPECT_EQ(o.hostInterface, "ens4");
  EXPECT_TRUE(fs.lookup("pod-namespace")->setOnCommandLine());
  EXPECT_FALSE(fs.parse({"-no-such-flag"}));
  EXPECT_TRUE(fs.parse({"-version"}));
  EXPECT_TRUE(o.version);
}

TEST(ListenAddress, Forms) {
  auto a = parseListenAddress("0.0.0.0:15150");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->first, "0.0.0.0");
  EXPECT_EQ(a->second, 15150);
  auto b = parseListenAddress(":15150");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->first, "0.0.0.0");
  auto c = parseListenAddress("[::1]:80");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->first, "::1");
  EXPECT_EQ(c->second, 80);
  for (const char* bad : {"15150", "host:", "host:99999", "host:12x", "host:-1"}) {
    EXPECT_FALSE(parseListenAddress(bad)) << bad;
  }
}

TEST(ServerContext, RejectsMissingOrMismatchedMaterial) {
  EXPECT_FALSE(makeServerContext("", "", ""));
  auto r = makeServerContext("not a certificate", "not a key", "CA PEM");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("certificate"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace pp::forwarder
