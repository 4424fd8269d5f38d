// The peerpod-ctrl binary against the fake API server: kubeconfig flag, /healthz, /readyz
// after the first PeerPod list, /metrics, retries of a PeerPod it cannot finalize, and a
// prompt exit 0 on SIGTERM.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "base/encoding.h"
#include "base/files.h"
#include "fake_kube_api.h"
#include "k8s/client.h"
#include "net/http_client.h"
#include "net/tls.h"

namespace pp {
namespace {

using namespace std::chrono_literals;
using k8s::Json;

std::string get(uint16_t port, const std::string& path, long* status) {
  net::HttpClient client;
  net::HttpRequest r;
  r.url = "http://127.0.0.1:" + std::to_string(port) + path;
  r.timeout = 2s;
  auto resp = client.send(r);
  if (!resp) {
    *status = 0;
    return resp.error().message;
  }
  *status = resp->status;
  return resp->body;
}

// Waits for `prefix` followed by a port number in the log file; 0 if it never shows.
uint16_t portFromLog(const std::string& log, const std::string& prefix) {
  for (int i = 0; i < 200; ++i) {
    if (auto text = files::readFile(log)) {
      size_t at = text->find(prefix);
      if (at != std::string::npos) {
        size_t start = at + prefix.size();
        size_t end = text->find_first_not_of("0123456789", start);
        if (end != std::string::npos && end > start)
          return static_cast<uint16_t>(std::stoi(text->substr(start, end - start)));
      }
    }
    std::this_thread::sleep_for(25ms);
  }
  return 0;
}

// The CA of the fake API server's certificate: kubeconfigs trust it. HTTPS because a token is
// only sent over https:// (src/k8s/config.cc).
const net::CertificateAuthority& apiCa() {
  static const auto ca = net::CertificateAuthority::create("test", "fake-kube-api-ca");
  return *ca;
}

std::unique_ptr<fakes::FakeKubeApi> startApi() {
  auto server = apiCa().issueServer("127.0.0.1");
  EXPECT_TRUE(server);
  auto tls = net::makeServerContext({.certPem = server->certPem, .keyPem = server->keyPem});
  EXPECT_TRUE(tls);
  auto api = fakes::FakeKubeApi::start({.token = "ctrl-token", .tls = *tls});
  EXPECT_TRUE(api->url().starts_with("https://"));
  return api;
}

std::string kubeconfigFor(const fakes::FakeKubeApi& api) {
  return "apiVersion: v1\nkind: Config\ncurrent-context: t\n"
         "clusters: [{name: c, cluster: {server: '" +
         api.url() + "', certificate-authority-data: " + encoding::base64Encode(apiCa().certPem()) +
         "}}]\n"
         "contexts: [{name: t, context: {cluster: c, user: u, namespace: pp-system}}]\n"
         "users: [{name: u, user: {token: ctrl-token}}]\n";
}

// Starts peerpod-ctrl against `api`; returns its pid. Its stderr goes to <dir>/log.
pid_t startCtrl(const fakes::FakeKubeApi& api, const std::string& dir,
                std::vector<std::string> extra) {
  std::string kubeconfig = dir + "/kubeconfig";
  EXPECT_TRUE(files::writeAtomic(kubeconfig, kubeconfigFor(api)));
  std::vector<std::string> args = {"peerpod-ctrl", "--kubeconfig", kubeconfig};
  for (auto& e : extra) args.push_back(e);
  std::string log = dir + "/log";
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(PEERPOD_CTRL_BINARY, argv.data());
    ::_exit(127);
  }
  return pid;
}

// The real provider registry: peer-pods-cm selects libvirt on its test driver; the instance of
// a deleted PeerPod (test:///default's domain "test", and one that is already gone) is deleted
// and the finalizers removed. With -log-format json, each line of the log is one JSON object.
TEST(PeerpodCtrlBinary, BuildsTheProviderFromTheConfigMapAndFinalizes) {
  auto api = startApi();
  std::string dir = "/tmp/ppctrl" + std::to_string(std::random_device{}() % 100000);
  std::filesystem::create_directories(dir);
  api->seed("configmaps",
            Json{{"metadata", {{"name", "peer-pods-cm"}, {"namespace", "pp-system"}}},
                 {"data", {{"CLOUD_PROVIDER", "libvirt"}, {"LIBVIRT_URI", "test:///default"}}}});
  for (auto [name, instance] :
       {std::pair{"a-resource-aaaaa", "6695eb01-f6a4-8304-79aa-97f2502e193f"},
        std::pair{"b-resource-bbbbb", "00000000-0000-0000-0000-00000000dead"}}) {
    api->seed(
        "peerpods",
        Json{{"metadata",
              {{"name", name}, {"namespace", "team"}, {"finalizers", {"peer.pod/finalizer"}}}},
             {"spec", {{"cloudProvider", "libvirt"}, {"instanceID", instance}}}});
  }
  pid_t pid = startCtrl(*api, dir,
                        {"--health-probe-bind-address=127.0.0.1:0", "--metrics-bind-address=0",
                         "--orphan-sweep-interval=0", "--log-format=json"});
  ASSERT_GT(pid, 0);
  k8s::Client client(api->clientConfig());
  ASSERT_TRUE(client.remove(k8s::resources::kPeerPods, "team", "a-resource-aaaaa"));
  ASSERT_TRUE(client.remove(k8s::resources::kPeerPods, "team", "b-resource-bbbbb"));
  for (int i = 0; i < 200 && !api->objects("peerpods").empty(); ++i)
    std::this_thread::sleep_for(25ms);
  EXPECT_TRUE(api->objects("peerpods").empty());
  ::kill(pid, SIGTERM);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
  auto text = files::readFile(dir + "/log");
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("deleted instance 6695eb01-f6a4-8304-79aa-97f2502e193f (libvirt) of PeerPod "
                       "team/a-resource-aaaaa"),
            std::string::npos)
      << *text;
  std::istringstream lines(*text);
  int objects = 0;
  for (std::string line; std::getline(lines, line); ++objects) {
    ASSERT_TRUE(Json::accept(line)) << line;
    auto j = Json::parse(line);
    for (const char* key : {"time", "level", "component", "msg"})
      EXPECT_TRUE(j.contains(key) && j[key].is_string()) << key << " in " << line;
  }
  EXPECT_GT(objects, 0);
  std::filesystem::remove_all(dir);
}

// Two replicas with --leader-elect: only the leader works; when it stops, the other takes over.
TEST(PeerpodCtrlBinary, LeaderElectionHandsOverToTheStandby) {
  auto api = startApi();
  std::string dirA = "/tmp/ppctrlA" + std::to_string(std::random_device{}() % 100000);
  std::string dirB = dirA + "b";
  std::filesystem::create_directories(dirA);
  std::filesystem::create_directories(dirB);
  api->seed("configmaps",
            Json{{"metadata", {{"name", "peer-pods-cm"}, {"namespace", "pp-system"}}},
                 {"data", {{"CLOUD_PROVIDER", "libvirt"}, {"LIBVIRT_URI", "test:///default"}}}});
  std::vector<std::string> flags = {"--leader-elect", "--health-probe-bind-address=0",
                                    "--metrics-bind-address=0", "--orphan-sweep-interval=0"};
  pid_t a = startCtrl(*api, dirA, flags);
  ASSERT_GT(a, 0);
  for (int i = 0;
       i < 200 && !api->object("leases", "pp-system", "33f6c5d6.confidentialcontainers.org"); ++i) {
    std::this_thread::sleep_for(25ms);
  }
  pid_t b = startCtrl(*api, dirB, flags);
  ASSERT_GT(b, 0);
  k8s::Client client(api->clientConfig());
  auto finalizes = [&](const std::string& name) {
    api->seed(
        "peerpods",
        Json{{"metadata",
              {{"name", name}, {"namespace", "team"}, {"finalizers", {"peer.pod/finalizer"}}}},
             {"spec",
              {{"cloudProvider", "libvirt"},
               {"instanceID", "00000000-0000-0000-0000-00000000beef"}}}});
    EXPECT_TRUE(client.remove(k8s::resources::kPeerPods, "team", name));
    for (int i = 0; i < 400 && api->object("peerpods", "team", name); ++i)
      std::this_thread::sleep_for(25ms);
    return !api->object("peerpods", "team", name);
  };
  EXPECT_TRUE(finalizes("first-resource-aaaaa"));
  auto leaseHolder = [&] {
    return api->object("leases", "pp-system", "33f6c5d6.confidentialcontainers.org")
        ->at("spec")["holderIdentity"];
  };
  std::string leader = leaseHolder();

  ::kill(a, SIGTERM);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(a, &wstatus, 0), a);
  EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
  EXPECT_TRUE(finalizes("second-resource-bbbbb"));  // b took over
  EXPECT_NE(std::string(leaseHolder()), leader);
  ::kill(b, SIGTERM);
  ASSERT_EQ(::waitpid(b, &wstatus, 0), b);
  auto logA = files::readFile(dirA + "/log");
  auto logB = files::readFile(dirB + "/log");
  ASSERT_TRUE(logA && logB);
  EXPECT_NE(logA->find("deleted instance 00000000-0000-0000-0000-00000000beef (libvirt) of PeerPod "
                       "team/first-resource-aaaaa"),
            std::string::npos)
      << *logA;
  EXPECT_EQ(logB->find("of PeerPod team/first-resource-aaaaa"),
            std::string::npos);  // b was standing by
  EXPECT_NE(logB->find("of PeerPod team/second-resource-bbbbb"), std::string::npos) << *logB;
  std::filesystem::remove_all(dirA);
  std::filesystem::remove_all(dirB);
}

TEST(PeerpodCtrlBinary, ServesProbesAndMetricsAndStopsOnSigterm) {
  auto api = startApi();
  std::string dir = "/tmp/ppctrl" + std::to_string(std::random_device{}() % 100000);
  std::filesystem::create_directories(dir);
  std::string kubeconfig = dir + "/kubeconfig";
  ASSERT_TRUE(files::writeAtomic(kubeconfig, kubeconfigFor(*api)));
  Json pp{{"metadata",
           {{"name", "web-resource-zzzzz"},
            {"namespace", "team"},
            {"finalizers", {"peer.pod/finalizer"}}}},
          {"spec", {{"cloudProvider", "nosuchcloud"}, {"instanceID", "i-1"}}}};
  api->seed("peerpods", pp);

  std::string log = dir + "/log";
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 2);
    ::execl(PEERPOD_CTRL_BINARY, "peerpod-ctrl", "--kubeconfig", kubeconfig.c_str(),
            "--health-probe-bind-address=127.0.0.1:0", "--metrics-bind-address=127.0.0.1:0",
            "--leader-elect", "--orphan-sweep-interval=0", nullptr);
    ::_exit(127);
  }
  // Port 0: the binary logs the ports it got.
  uint16_t probePort = portFromLog(log, "health probes on 127.0.0.1:");
  uint16_t metricsPort = portFromLog(log, "metrics on 127.0.0.1:");
  ASSERT_NE(probePort, 0);
  ASSERT_NE(metricsPort, 0);
  long status = 0;
  bool ready = false;
  for (int i = 0; i < 200 && !ready; ++i) {
    std::this_thread::sleep_for(25ms);
    get(probePort, "/readyz", &status);
    ready = status == 200;
  }
  EXPECT_TRUE(ready);
  EXPECT_EQ(get(probePort, "/healthz", &status), "ok\n");
  EXPECT_EQ(status, 200);

  // The PeerPod is deleted; its provider does not exist, so the finalizer stays and the
  // controller keeps retrying (errors show in the metrics).
  k8s::Client client(api->clientConfig());
  ASSERT_TRUE(client.remove(k8s::resources::kPeerPods, "team", "web-resource-zzzzz"));
  std::string metrics;
  for (int i = 0; i < 100; ++i) {
    metrics = get(metricsPort, "/metrics", &status);
    if (metrics.find("peerpod_ctrl_reconciles_total{result=\"error\"} 0") == std::string::npos &&
        metrics.find("peerpod_ctrl_reconciles_total{result=\"error\"}") != std::string::npos)
      break;
    std::this_thread::sleep_for(25ms);
  }
  EXPECT_EQ(status, 200);
  EXPECT_NE(metrics.find("peerpod_ctrl_ready 1"), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("peerpod_ctrl_reconciles_total{result=\"error\"} 0"), std::string::npos)
      << metrics;
  EXPECT_TRUE(api->object("peerpods", "team", "web-resource-zzzzz"));

  auto t0 = std::chrono::steady_clock::now();
  ::kill(pid, SIGTERM);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
  auto text = files::readFile(log);
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("unsupported cloud provider: nosuchcloud"), std::string::npos) << *text;
  EXPECT_NE(text->find("acquired lease pp-system/33f6c5d6.confidentialcontainers.org"),
            std::string::npos);
  EXPECT_NE(text->find("released lease"), std::string::npos);
  EXPECT_EQ(text->find("ctrl-token"), std::string::npos);  // the token is never logged
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pp
