// The KBS admin client against tests/securecomms/fake_kbs.py, which checks the EdDSA JWT with
// PyJWT (an independent implementation), and the pod VM's key fetch through the fake
// api-server-rest in front of it.
#include "securecomms/kbs_client.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

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

}  // namespace
}  // namespace pp::securecomms
