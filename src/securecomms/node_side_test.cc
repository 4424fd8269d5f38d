// The worker node's side against the fake Kubernetes API (secrets), then both sides wired as the
// daemons wire them: the pod VM's server from the apf.json the node side wrote (no-Trustee).
#include "securecomms/node_side.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "base/encoding.h"
#include "fake_kube_api.h"
#include "securecomms/pod_side.h"

namespace pp::securecomms {
namespace {

using namespace std::chrono_literals;

NodeSideOptions fastOptions() {
  NodeSideOptions o;
  o.keyBits = 2048;
  o.kbsAddress = "127.0.0.1:1";
  o.ppInbounds = "BOTH_PHASES:EXTRA:0";
  o.timing.pingInterval = 200ms;
  o.timing.deadAfter = 2s;
  return o;
}

TEST(NodeSideTest, SecretsInKubernetes) {
  auto api = fakes::FakeKubeApi::start();
  auto client = std::make_shared<const k8s::Client>(api->clientConfig());
  auto node = NodeSide::create(fastOptions(), kubeKeyStore(client));
  ASSERT_TRUE(node) << node.error().toString();
  auto secret = api->object("secrets", kSecretsNamespace, "sshclient");
  ASSERT_TRUE(secret);
  auto pub = encoding::base64Decode((*secret)["data"]["publicKey"].get<std::string>());
  ASSERT_TRUE(pub);
  EXPECT_EQ(*pub, (*node)->nodePublicKey());
  EXPECT_NE(encoding::base64Decode((*secret)["data"]["privateKey"].get<std::string>())
                ->find("RSA PRIVATE KEY"),
            std::string::npos);

  // A second adaptor (a restart) takes the existing key instead of making another.
  auto again = NodeSide::create(fastOptions(), kubeKeyStore(client));
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)->nodePublicKey(), (*node)->nodePublicKey());

  apf::ApfConfig apf;
  ASSERT_TRUE((*node)->prepareApf("abc123", apf));
  EXPECT_TRUE(apf.secureComms);
  EXPECT_EQ(apf.wnPublicKey, (*node)->nodePublicKey());
  EXPECT_NE(apf.ppPrivateKey.find("RSA PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(apf.secureCommsInbounds, "BOTH_PHASES:EXTRA:0");
  auto pp = api->object("secrets", kSecretsNamespace, "pp-abc123");
  ASSERT_TRUE(pp);
  EXPECT_EQ(*encoding::base64Decode((*pp)["data"]["privateKey"].get<std::string>()),
            apf.ppPrivateKey);
  // The JSON the VM gets carries the keys base64-encoded under upstream's names.
  auto json = nlohmann::json::parse(apf.toJson());
  EXPECT_EQ(*encoding::base64Decode(json["sc-pp-prv"].get<std::string>()), apf.ppPrivateKey);
  EXPECT_EQ(*encoding::base64Decode(json["sc-wn-pub"].get<std::string>()), apf.wnPublicKey);
  EXPECT_EQ(json["sc"], true);

  ASSERT_TRUE((*node)->forget("abc123"));
  EXPECT_FALSE(api->object("secrets", kSecretsNamespace, "pp-abc123"));
  EXPECT_TRUE((*node)->forget("abc123"));                        // gone already: fine
  EXPECT_FALSE((*node)->connect("abc123", "127.0.0.1", false));  // no key: refused
}

TEST(NodeSideTest, RejectsBadTagsAndTrusteeWithoutItsKey) {
  auto dir = std::filesystem::temp_directory_path() / ("sc-node-" + std::to_string(getpid()));
  auto o = fastOptions();
  o.inbounds = "NOPE";
  EXPECT_FALSE(NodeSide::create(o, fileKeyStore(dir)));
  o = fastOptions();
  o.ppOutbounds = "BOTH_PHASES:X:99999";
  EXPECT_FALSE(NodeSide::create(o, fileKeyStore(dir)));
  o = fastOptions();
  o.kbsAddress = "nocolon";
  EXPECT_FALSE(NodeSide::create(o, fileKeyStore(dir)));
  o = fastOptions();
  o.outbounds = "BOTH_PHASES:KBS:h:1";  // the key broker's name
  EXPECT_FALSE(NodeSide::create(o, fileKeyStore(dir)));
  // Trustee mode needs the kbs-client secret.
  o = fastOptions();
  o.noTrustee = false;
  auto trustee = NodeSide::create(o, fileKeyStore(dir));
  ASSERT_FALSE(trustee);
  EXPECT_EQ(trustee.error().code, Code::kFailedPrecondition);
  EXPECT_NE(trustee.error().message.find("kbs-client"), std::string::npos);
  std::filesystem::remove_all(dir);
}

// An echo server standing in for the forwarder's agent port.
class Echo {
 public:
  Echo() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    listen(fd_, 8);
    socklen_t len = sizeof sa;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    thread_ = std::jthread([this](std::stop_token st) {
      while (!st.stop_requested()) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        int c = accept(fd_, nullptr, nullptr);
        char buf[256];
        ssize_t n = read(c, buf, sizeof buf);
        if (n > 0) (void)!write(c, buf, static_cast<size_t>(n));
        close(c);
      }
    });
  }
  ~Echo() {
    thread_.request_stop();
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  int fd_;
  uint16_t port_;
  std::jthread thread_;
};

std::string ask(uint16_t port, const std::string& msg) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return "";
  (void)!write(fd, msg.data(), msg.size());
  std::string got;
  char buf[256];
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 5000) > 0) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) got.assign(buf, static_cast<size_t>(n));
  }
  close(fd);
  return got;
}

TEST(NodeSideTest, BothSidesWiredAsTheDaemonsDoNoTrustee) {
  auto dir = std::filesystem::temp_directory_path() / ("sc-wired-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto node = NodeSide::create(fastOptions(), fileKeyStore(dir / "keys"));
  ASSERT_TRUE(node) << node.error().toString();
  apf::ApfConfig apf;
  ASSERT_TRUE((*node)->prepareApf("sb1", apf));
  // What the forwarder reads back from the apf.json the VM was sent.
  auto parsed = apf::ApfConfig::parse(apf.toJson());
  ASSERT_TRUE(parsed) << parsed.error().toString();

  Echo agent;
  PodSideOptions po;
  po.ppPrivateKey = parsed->ppPrivateKey;
  po.wnPublicKey = parsed->wnPublicKey;
  po.apfInbounds = parsed->secureCommsInbounds;
  po.forwarderPort = agent.port();
  po.kbsPort = 0;
  po.sshPort = 0;
  po.sshListenHost = "127.0.0.1";
  po.singletonPath = (dir / "sshSingleton").string();
  po.unprovenWnPublicKeyPath = (dir / "none").string();
  po.ephemeralKeyBits = 2048;
  po.timing = fastOptions().timing;
  auto server = startPodSide(po);
  ASSERT_TRUE(server) << server.error().toString();
  // Singleton: a second start in the same "boot" fails.
  auto second = startPodSide(po);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, Code::kFailedPrecondition);

  auto o = fastOptions();
  o.sshPort = (*server)->port();
  auto node2 = NodeSide::create(o, fileKeyStore(dir / "keys"));
  ASSERT_TRUE(node2);
  auto client = (*node2)->connect("sb1", "127.0.0.1", false);
  ASSERT_TRUE(client) << client.error().toString();
  ASSERT_TRUE((*client)->waitKubernetesPhase(15s));
  EXPECT_EQ(ask(*(*client)->inboundPort("KATAAGENT"), "agent?"), "agent?");
  (*client)->stop();
  (*server)->stop();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pp::securecomms
