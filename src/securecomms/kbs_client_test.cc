// The KBS admin client against tests/securecomms/fake_kbs.py, which checks the EdDSA JWT with
// PyJWT (an independent implementation), and the pod VM's key fetch through the fake
// api-server-rest in front of it.
#include "securecomms/kbs_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "securecomms/kbs_proxy.h"
#include "securecomms/node_side.h"
#include "securecomms/pod_side.h"

namespace pp::securecomms {
namespace {

struct Ed25519 {
  std::string privatePem, publicPem;
};

Ed25519 makeEd25519() {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  Ed25519 out;
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* d;
  long n = BIO_get_mem_data(b, &d);
  out.privatePem.assign(d, static_cast<size_t>(n));
  BIO_free(b);
  b = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(b, k);
  n = BIO_get_mem_data(b, &d);
  out.publicPem.assign(d, static_cast<size_t>(n));
  BIO_free(b);
  EVP_PKEY_free(k);
  return out;
}

// A fake_kbs.py process; its port once it listens.
class FakeProcess {
 public:
  explicit FakeProcess(std::vector<std::string> args) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    FILE* f = fdopen(fds[0], "r");
    char line[64] = {};
    if (f && fgets(line, sizeof line, f)) sscanf(line, "PORT %d", &port_);
    if (f) fclose(f);
  }
  ~FakeProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

std::string script() {
  return std::string(PP_SOURCE_DIR) + "/tests/securecomms/fake_kbs.py";
}

class KbsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("sc-kbs-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    admin_ = makeEd25519();
    std::ofstream(dir_ / "admin.pub") << admin_.publicPem;
    kbs_ = std::make_unique<FakeProcess>(std::vector<std::string>{
        "/usr/bin/python3", script(), "kbs", "--public-key", (dir_ / "admin.pub").string()});
    ASSERT_GT(kbs_->port(), 0) << "fake_kbs.py did not start (python3-jwt installed?)";
  }
  void TearDown() override {
    kbs_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string kbsAddress() const { return "127.0.0.1:" + std::to_string(kbs_->port()); }

  std::filesystem::path dir_;
  Ed25519 admin_;
  std::unique_ptr<FakeProcess> kbs_;
};

TEST_F(KbsTest, TokenShape) {
  auto t = makeKbsAdminToken(admin_.privatePem, std::chrono::system_clock::now());
  ASSERT_TRUE(t) << t.error().toString();
  EXPECT_EQ(std::count(t->begin(), t->end(), '.'), 2);
  EXPECT_EQ(t->find('='), std::string::npos);
  // RSA or junk is not a kbs-client key.
  EXPECT_FALSE(
      makeKbsAdminToken(generateRsaKeyPair(2048)->privatePem, std::chrono::system_clock::now()));
  EXPECT_FALSE(makeKbsAdminToken("junk", std::chrono::system_clock::now()));
}

TEST_F(KbsTest, PostsResourcesTheFakeBrokerAccepts) {
  KbsAdminClient client(kbsAddress(), admin_.privatePem);
  ASSERT_TRUE(client.postResource("default/sshclient/publicKey", "ssh-rsa AAAA"));
  ASSERT_TRUE(client.postResource("default/pp-abc/privateKey", "PRIVATE"));

  // The pod VM's key fetch: api-server-rest in front of the broker.
  FakeProcess rest(
      {"/usr/bin/python3", script(), "api-server-rest", "--kbs", "http://" + kbsAddress()});
  ASSERT_GT(rest.port(), 0);
  std::string base = "http://127.0.0.1:" + std::to_string(rest.port());
  auto got = fetchCdhResource(base, "sshclient/publicKey");
  ASSERT_TRUE(got) << got.error().toString();
  EXPECT_EQ(*got, "ssh-rsa AAAA");
  EXPECT_EQ(*fetchCdhResource(base, "pp-abc/privateKey"), "PRIVATE");
  auto missing = fetchCdhResource(base, "pp-none/privateKey");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("HTTP 404"), std::string::npos);
}

TEST_F(KbsTest, TheFakeBrokerRefusesOtherKeysAndExpiredTokens) {
  KbsAdminClient stranger(kbsAddress(), makeEd25519().privatePem);
  auto st = stranger.postResource("default/sshclient/publicKey", "x");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("HTTP 401"), std::string::npos);
  // An old token (issued two days ago) is refused by PyJWT's exp check.
  auto old = makeKbsAdminToken(admin_.privatePem,
                               std::chrono::system_clock::now() - std::chrono::hours(48));
  ASSERT_TRUE(old);
  net::HttpClient http;
  auto r = http.send({.method = "POST",
                      .url = "http://" + kbsAddress() + "/kbs/v0/resource/default/a/b",
                      .headers = {{"Authorization", "Bearer " + *old}},
                      .body = "x"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
}

TEST(KbsProxyTest, RewritesTheGenericKeyPathOnly) {
  auto h = rewriteKbsRequestHead(
      "GET /kbs/v0/resource/default/pp-sid/privateKey HTTP/1.1\r\nHost: x\r\nConnection: "
      "keep-alive\r\n\r\n",
      "abc");
  ASSERT_TRUE(h);
  EXPECT_EQ(*h,
            "GET /kbs/v0/resource/default/pp-abc/privateKey HTTP/1.1\r\nHost: x\r\nConnection: "
            "close\r\n\r\n");
  auto other = rewriteKbsRequestHead(
      "GET /kbs/v0/resource/default/sshclient/publicKey HTTP/1.1\r\n\r\n", "abc");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->substr(0, other->find("\r\n")),
            "GET /kbs/v0/resource/default/sshclient/publicKey HTTP/1.1");
  EXPECT_FALSE(rewriteKbsRequestHead("garbage\r\n\r\n", "abc"));
}

uint16_t freePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  socklen_t len = sizeof sa;
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  close(fd);
  return ntohs(sa.sin_port);
}

// Trustee mode end to end in one process: the node side registers its key and the sandbox's
// with the (fake) broker; the pod VM's server fetches them through api-server-rest, which reaches
// the broker through the VM's KBS inbound, the SSH tunnel and the node's rewriting proxy; then
// Upgrade and the Kubernetes phase with those keys.
TEST_F(KbsTest, TrusteeModeEndToEnd) {
  auto keys = fileKeyStore((dir_ / "keys").string());
  ASSERT_TRUE(keys->create(kKbsClientSecretName, KeyPair{admin_.privatePem, ""}));
  NodeSideOptions no;
  no.noTrustee = false;
  no.kbsAddress = kbsAddress();
  no.keyBits = 2048;
  auto node = NodeSide::create(no, std::move(keys));
  ASSERT_TRUE(node) << node.error().toString();
  apf::ApfConfig apf;
  ASSERT_TRUE((*node)->prepareApf("sb9", apf));
  EXPECT_FALSE(apf.secureComms);  // no keys in the user data in Trustee mode
  EXPECT_TRUE(apf.ppPrivateKey.empty());

  uint16_t vmKbsPort = freePort();
  FakeProcess rest({"/usr/bin/python3", script(), "api-server-rest", "--kbs",
                    "http://127.0.0.1:" + std::to_string(vmKbsPort)});
  ASSERT_GT(rest.port(), 0);

  // The "forwarder port": an echo.
  int echo = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(echo, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  listen(echo, 4);
  socklen_t len = sizeof sa;
  getsockname(echo, reinterpret_cast<sockaddr*>(&sa), &len);
  std::jthread echoer([echo](std::stop_token st) {
    while (!st.stop_requested()) {
      pollfd p{echo, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      int c = accept(echo, nullptr, nullptr);
      char buf[64];
      ssize_t n = read(c, buf, sizeof buf);
      if (n > 0) (void)!write(c, buf, static_cast<size_t>(n));
      close(c);
    }
  });

  PodSideOptions po;
  po.keysFromKbs = true;
  po.keyFetchNetns = "";
  po.apiServerRest = "http://127.0.0.1:" + std::to_string(rest.port());
  po.keyFetchDelayMax = std::chrono::milliseconds(500);
  po.keyFetchTimeout = std::chrono::seconds(30);
  po.forwarderPort = ntohs(sa.sin_port);
  po.kbsPort = vmKbsPort;
  po.sshPort = 0;
  po.sshListenHost = "127.0.0.1";
  po.singletonPath = (dir_ / "sshSingleton").string();
  po.unprovenWnPublicKeyPath = (dir_ / "none").string();
  po.ephemeralKeyBits = 2048;
  auto server = startPodSide(po);
  ASSERT_TRUE(server) << server.error().toString();

  no.sshPort = (*server)->port();
  auto node2 = NodeSide::create(no, fileKeyStore((dir_ / "keys").string()));
  ASSERT_TRUE(node2);
  auto client = (*node2)->connect("sb9", "127.0.0.1", false);
  ASSERT_TRUE(client) << client.error().toString();
  ASSERT_TRUE((*client)->waitKubernetesPhase(std::chrono::seconds(40)));
  EXPECT_TRUE((*server)->inKubernetesPhase());

  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(*(*client)->inboundPort(kAgentTunnel));
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  ASSERT_EQ(write(fd, "agent", 5), 5);
  char buf[16] = {};
  pollfd p{fd, POLLIN, 0};
  ASSERT_GT(poll(&p, 1, 5000), 0);
  EXPECT_EQ(read(fd, buf, sizeof buf), 5);
  EXPECT_EQ(std::string(buf, 5), "agent");
  close(fd);
  (*client)->stop();
  (*server)->stop();
  echoer.request_stop();
  echoer.join();
  close(echo);
}

}  // namespace
}  // namespace pp::securecomms
