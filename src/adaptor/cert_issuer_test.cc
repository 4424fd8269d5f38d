#include "adaptor/cert_issuer.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

namespace pp::adaptor {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;
using Clock = std::chrono::system_clock;

constexpr hours kDay{24};

std::string slurp(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::unique_ptr<X509, decltype(&X509_free)> parseCert(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return {cert, X509_free};
}

// Whether `certPem` carries a valid signature by the key of `caPem`.
bool signedBy(const std::string& certPem, const std::string& caPem) {
  auto cert = parseCert(certPem);
  auto ca = parseCert(caPem);
  return cert && ca && X509_verify(cert.get(), X509_get0_pubkey(ca.get())) == 1;
}

mode_t modeOf(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

CertIssuerOptions at(Clock::duration fromNow) {
  CertIssuerOptions o;
  o.now = [fromNow] { return Clock::now() + fromNow; };
  return o;
}

class CertIssuerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "pp-cert-issuer-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    dir_ = root_ / ".tls";
    auto issuer = OpensslCertIssuer::loadOrCreate(dir_.string());
    ASSERT_TRUE(issuer) << issuer.error().message;
    first_ = (*issuer)->clientBundle();
  }
  void TearDown() override { fs::remove_all(root_); }

  // The error of loading dir_ again, or "" when it loads.
  std::string reloadError(CertIssuerOptions options = {}) {
    auto issuer = OpensslCertIssuer::loadOrCreate(dir_.string(), std::move(options));
    return issuer ? "" : issuer.error().message;
  }

  // The material on disk is still what SetUp created.
  void expectUnchanged() {
    EXPECT_EQ(slurp(dir_ / "ca.crt"), first_.caCertPem);
    EXPECT_EQ(slurp(dir_ / "client.crt"), first_.clientCertPem);
    EXPECT_EQ(slurp(dir_ / "client.key"), first_.clientKeyPem);
  }

  fs::path root_;
  fs::path dir_;
  ClientBundle first_;
};

TEST_F(CertIssuerTest, CreatesPrivateMaterialAndKeepsItAcrossLoads) {
  EXPECT_EQ(modeOf(dir_), 0700u);
  EXPECT_EQ(modeOf(dir_ / "ca.key"), 0600u);
  EXPECT_EQ(modeOf(dir_ / "client.key"), 0600u);
  EXPECT_EQ(modeOf(dir_ / "ca.crt"), 0644u);
  EXPECT_EQ(modeOf(dir_ / "client.crt"), 0644u);

  auto again = OpensslCertIssuer::loadOrCreate(dir_.string());
  ASSERT_TRUE(again) << again.error().message;
  const ClientBundle bundle = (*again)->clientBundle();
  EXPECT_EQ(bundle.caCertPem, first_.caCertPem);
  EXPECT_EQ(bundle.clientCertPem, first_.clientCertPem);
  EXPECT_EQ(bundle.clientKeyPem, first_.clientKeyPem);
  EXPECT_EQ((*again)->clientCaPem(), first_.clientCertPem);
  // Two years, as upstream.
  const auto left = (*again)->caNotAfter() - Clock::now();
  EXPECT_GT(left, 729 * kDay);
  EXPECT_LT(left, 731 * kDay);
}

TEST_F(CertIssuerTest, KeyAccessibleByGroupOrOthersIsRefused) {
  for (const std::string name : {"ca.key", "client.key"}) {
    for (mode_t mode : {0640, 0604, 0660, 0602, 0610}) {
      const fs::path key = dir_ / name;
      ASSERT_EQ(::chmod(key.c_str(), mode), 0);
      const std::string error = reloadError();
      EXPECT_NE(error.find(fmt::format("private key {} is accessible by group or others (mode "
                                       "{:04o}); chmod 600 it",
                                       key.string(), mode)),
                std::string::npos)
          << name << " " << mode << ": " << error;
      ASSERT_EQ(::chmod(key.c_str(), 0600), 0);
    }
  }
  // Refused, not replaced: the operator decides.
  expectUnchanged();
  EXPECT_EQ(reloadError(), "");
  // Stricter than 0600 is fine.
  ASSERT_EQ(::chmod((dir_ / "ca.key").c_str(), 0400), 0);
  EXPECT_EQ(reloadError(), "");
}

TEST_F(CertIssuerTest, KeyOwnedByAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give files away";
  const fs::path key = dir_ / "client.key";
  ASSERT_EQ(::chown(key.c_str(), 65534, static_cast<gid_t>(-1)), 0);
  const std::string error = reloadError();
  EXPECT_NE(error.find("private key " + key.string() +
                       " is owned by uid 65534, not by uid 0 that runs the adaptor"),
            std::string::npos)
      << error;
  expectUnchanged();
}

TEST_F(CertIssuerTest, SymlinkedKeyIsRefused) {
  const fs::path key = dir_ / "ca.key";
  const fs::path elsewhere = root_ / "ca.key";
  fs::rename(key, elsewhere);
  fs::create_symlink(elsewhere, key);
  const std::string error = reloadError();
  EXPECT_NE(error.find(key.string() + " is a symbolic link"), std::string::npos) << error;
}

TEST_F(CertIssuerTest, DirectoryWritableByOthersIsRefused) {
  ASSERT_EQ(::chmod(dir_.c_str(), 0770), 0);
  const std::string error = reloadError();
  EXPECT_NE(error.find(dir_.string() + " is writable by group or others (mode 0770)"),
            std::string::npos)
      << error;
  expectUnchanged();
}

TEST_F(CertIssuerTest, ClientCertificateWithAnotherKeyIsRefused) {
  ASSERT_EQ(::unlink((dir_ / "client.key").c_str()), 0);
  std::ofstream(dir_ / "client.key") << slurp(dir_ / "ca.key");
  ASSERT_EQ(::chmod((dir_ / "client.key").c_str(), 0600), 0);
  const std::string error = reloadError();
  EXPECT_NE(error.find("is unreadable or inconsistent"), std::string::npos) << error;
}

TEST_F(CertIssuerTest, KeptOutsideTheRenewalWindow) {
  // 699 days on, the material has 31 days left: kept.
  auto issuer = OpensslCertIssuer::loadOrCreate(dir_.string(), at(699 * kDay));
  ASSERT_TRUE(issuer) << issuer.error().message;
  EXPECT_EQ((*issuer)->clientBundle().caCertPem, first_.caCertPem);
  expectUnchanged();
}

TEST_F(CertIssuerTest, RenewedWhenAboutToExpireOrExpired) {
  for (auto later : {715 * kDay, 800 * kDay}) {
    fs::remove_all(dir_);
    auto fresh = OpensslCertIssuer::loadOrCreate(dir_.string());
    ASSERT_TRUE(fresh) << fresh.error().message;
    const ClientBundle before = (*fresh)->clientBundle();
    auto issuer = OpensslCertIssuer::loadOrCreate(dir_.string(), at(later));
    ASSERT_TRUE(issuer) << issuer.error().message;
    const ClientBundle after = (*issuer)->clientBundle();
    // Both CA and client certificate are new, on disk too, and valid two years from "now".
    EXPECT_NE(after.caCertPem, before.caCertPem);
    EXPECT_NE(after.clientCertPem, before.clientCertPem);
    EXPECT_NE(after.clientKeyPem, before.clientKeyPem);
    EXPECT_EQ((*issuer)->clientCaPem(), after.clientCertPem);
    EXPECT_EQ(slurp(dir_ / "ca.crt"), after.caCertPem);
    EXPECT_EQ(slurp(dir_ / "client.crt"), after.clientCertPem);
    EXPECT_EQ(slurp(dir_ / "client.key"), after.clientKeyPem);
    EXPECT_EQ(modeOf(dir_ / "ca.key"), 0600u);
    EXPECT_EQ(modeOf(dir_ / "client.key"), 0600u);
    EXPECT_GT((*issuer)->caNotAfter(), Clock::now() + later + 729 * kDay);
    // New pod VMs get certificates from the new CA only.
    auto server = (*issuer)->issueServer("podvm-web-01234567");
    ASSERT_TRUE(server) << server.error().message;
    EXPECT_TRUE(signedBy(server->certPem, after.caCertPem));
    EXPECT_FALSE(signedBy(server->certPem, before.caCertPem));
    // And the next load, at the same time, keeps the renewed material.
    auto again = OpensslCertIssuer::loadOrCreate(dir_.string(), at(later));
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ((*again)->clientBundle().caCertPem, after.caCertPem);
  }
}

}  // namespace
}  // namespace pp::adaptor
