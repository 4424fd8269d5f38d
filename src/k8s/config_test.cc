// Kubeconfig and in-cluster configuration loading.
#include "k8s/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "base/encoding.h"
#include "base/files.h"

namespace pp::k8s {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/k8scfgXXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const char* kKubeconfig = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: prod-cluster
  cluster:
    server: https://prod.example:6443
    certificate-authority: certs/ca.pem
- name: dev-cluster
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: Q0EtUEVN
contexts:
- name: dev
  context: {cluster: dev-cluster, user: dev-user, namespace: team-a}
- name: prod
  context: {cluster: prod-cluster, user: prod-user}
users:
- name: dev-user
  user:
    token: dev-token
- name: prod-user
  user:
    client-certificate: /abs/client.crt
    client-key: keys/client.key
    tokenFile: tok
)";

TEST(Kubeconfig, CurrentContextWithTokenAndCaData) {
  auto c = kubeconfigFromText(kKubeconfig, "/home/u/.kube");
  ASSERT_TRUE(c) << c.error().toString();
  EXPECT_EQ(c->server, "https://127.0.0.1:6443");
  EXPECT_EQ(c->caPem, "CA-PEM");
  EXPECT_EQ(c->token, "dev-token");
  EXPECT_EQ(c->ns, "team-a");
  EXPECT_FALSE(c->insecureSkipVerify);
}

TEST(Kubeconfig, NamedContextWithFilesResolvedAgainstTheFileDirectory) {
  auto c = kubeconfigFromText(kKubeconfig, "/home/u/.kube", "prod");
  ASSERT_TRUE(c) << c.error().toString();
  EXPECT_EQ(c->server, "https://prod.example:6443");
  EXPECT_EQ(c->caFile, "/home/u/.kube/certs/ca.pem");
  EXPECT_EQ(c->clientCertFile, "/abs/client.crt");
  EXPECT_EQ(c->clientKeyFile, "/home/u/.kube/keys/client.key");
  EXPECT_EQ(c->tokenFile, "/home/u/.kube/tok");
}

TEST(Kubeconfig, ClientCertificateDataAndInsecure) {
  std::string text =
      "current-context: c\nclusters:\n- name: k\n  cluster:\n    server: "
      "https://h:1\n    insecure-skip-tls-verify: true\ncontexts:\n- name: c\n  "
      "context: {cluster: k, user: u}\nusers:\n- name: u\n  user:\n    "
      "client-certificate-data: " +
      encoding::base64Encode("CERT") + "\n    client-key-data: " + encoding::base64Encode("KEY") +
      "\n";
  auto c = kubeconfigFromText(text, "");
  ASSERT_TRUE(c) << c.error().toString();
  EXPECT_TRUE(c->insecureSkipVerify);
  EXPECT_EQ(c->clientCertPem, "CERT");
  EXPECT_EQ(c->clientKeyPem, "KEY");
}

TEST(Kubeconfig, ErrorsNameWhatIsWrong) {
  auto missingContext = kubeconfigFromText(kKubeconfig, "", "nope");
  ASSERT_FALSE(missingContext);
  EXPECT_NE(missingContext.error().message.find("no context called \"nope\""), std::string::npos);

  auto notYaml = kubeconfigFromText("clusters: [\n", "");
  ASSERT_FALSE(notYaml);
  EXPECT_EQ(notYaml.error().code, Code::kInvalidArgument);

  auto badBase64 = kubeconfigFromText(
      "current-context: c\nclusters: [{name: k, cluster: {server: 'https://h', "
      "certificate-authority-data: '@@@'}}]\ncontexts: [{name: c, context: {cluster: k}}]\n",
      "");
  ASSERT_FALSE(badBase64);
  EXPECT_NE(badBase64.error().message.find("certificate-authority-data"), std::string::npos);

  auto exec = kubeconfigFromText(
      "current-context: c\nclusters: [{name: k, cluster: {server: 'https://h'}}]\n"
      "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
      "users: [{name: u, user: {exec: {command: aws}}}]\n",
      "");
  ASSERT_FALSE(exec);
  EXPECT_EQ(exec.error().code, Code::kUnimplemented);

  auto noServer = kubeconfigFromText(
      "current-context: c\nclusters: [{name: k, cluster: {}}]\n"
      "contexts: [{name: c, context: {cluster: k}}]\n",
      "");
  ASSERT_FALSE(noServer);

  auto tokenOverHttp = kubeconfigFromText(
      "current-context: c\nclusters: [{name: k, cluster: {server: 'http://h:8080'}}]\n"
      "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
      "users: [{name: u, user: {token: secret-token}}]\n",
      "");
  ASSERT_FALSE(tokenOverHttp);
  EXPECT_NE(tokenOverHttp.error().message.find("only sent over https://"), std::string::npos);
  EXPECT_EQ(tokenOverHttp.error().message.find("secret-token"), std::string::npos);
  EXPECT_TRUE(kubeconfigFromText(
      "current-context: c\nclusters: [{name: k, cluster: {server: 'http://h:8080'}}]\n"
      "contexts: [{name: c, context: {cluster: k, user: u}}]\nusers: [{name: u, user: {}}]\n",
      ""));

  auto halfCert = kubeconfigFromText(
      "current-context: c\nclusters: [{name: k, cluster: {server: 'https://h'}}]\n"
      "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
      "users: [{name: u, user: {client-certificate: /a.crt}}]\n",
      "");
  ASSERT_FALSE(halfCert);
  EXPECT_NE(halfCert.error().message.find("without a key"), std::string::npos);
}

TEST(Kubeconfig, FromFile) {
  TempDir dir;
  ASSERT_TRUE(files::writeAtomic(dir.path() + "/config", kKubeconfig));
  auto c = kubeconfigFromFile(dir.path() + "/config", "prod");
  ASSERT_TRUE(c) << c.error().toString();
  EXPECT_EQ(c->caFile, dir.path() + "/certs/ca.pem");
  auto missing = kubeconfigFromFile(dir.path() + "/nothing");
  ASSERT_FALSE(missing);
}

TEST(InCluster, ReadsServiceAccountFilesAndEnvironment) {
  TempDir dir;
  ASSERT_TRUE(files::writeAtomic(dir.path() + "/token", "tok-1\n"));
  ASSERT_TRUE(files::writeAtomic(dir.path() + "/ca.crt", "CA"));
  ASSERT_TRUE(files::writeAtomic(dir.path() + "/namespace", "confidential-containers-system"));
  ::setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto c = inClusterConfig(dir.path());
  ASSERT_TRUE(c) << c.error().toString();
  EXPECT_EQ(c->server, "https://10.96.0.1:443");
  EXPECT_EQ(c->token, "tok-1");
  EXPECT_EQ(c->tokenFile, dir.path() + "/token");
  EXPECT_EQ(c->caFile, dir.path() + "/ca.crt");
  EXPECT_EQ(c->ns, "confidential-containers-system");

  ::setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  auto v6 = inClusterConfig(dir.path());
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->server, "https://[fd00::1]:443");

  ::unsetenv("KUBERNETES_SERVICE_HOST");
  auto outside = inClusterConfig(dir.path());
  ASSERT_FALSE(outside);
  EXPECT_EQ(outside.error().code, Code::kFailedPrecondition);
  ::unsetenv("KUBERNETES_SERVICE_PORT");
}

TEST(InCluster, MissingTokenIsAnError) {
  TempDir dir;
  ::setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto c = inClusterConfig(dir.path());
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("token"), std::string::npos);
}

}  // namespace
}  // namespace pp::k8s
