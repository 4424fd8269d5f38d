// Flags and listen addresses (apf.json itself is src/apf's).
#include <gtest/gtest.h>

#include "forwarder/forwarder.h"

namespace pp::forwarder {
namespace {

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
