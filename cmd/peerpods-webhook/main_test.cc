// The peerpods-webhook binary as a process: starts with a certificate directory and upstream's
// manager flags, answers an AdmissionReview over HTTPS and its probes and metrics over HTTP,
// stops with exit code 0 on SIGTERM, and refuses bad configuration with exit code 1 and a
// message that says what to fix.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "base/files.h"
#include "net/http_client.h"
#include "net/tls.h"

extern char** environ;

namespace {

using namespace pp;
using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/ppwhm.XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { (void)files::removeAll(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct Process {
  pid_t pid = -1;
  std::string logFile;

  std::string log() const { return files::readFile(logFile).value_or(""); }

  // Waits until the log matches `pattern`; returns the first capture group.
  std::string waitForLog(const std::string& pattern) const {
    std::regex re(pattern);
    for (auto deadline = std::chrono::steady_clock::now() + 15s;
         std::chrono::steady_clock::now() < deadline;) {
      std::smatch m;
      std::string text = log();
      if (std::regex_search(text, m, re)) return m.size() > 1 ? m[1].str() : m[0].str();
      std::this_thread::sleep_for(20ms);
    }
    return "";
  }

  // Exit code, or -1 when it did not exit within the time.
  int wait(std::chrono::milliseconds limit = 10s) {
    for (auto deadline = std::chrono::steady_clock::now() + limit;
         std::chrono::steady_clock::now() < deadline;) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(20ms);
    }
    return -1;
  }

  ~Process() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

std::unique_ptr<Process> spawn(const std::vector<std::string>& args, const std::string& logFile,
                               const std::vector<std::string>& extraEnv = {}) {
  auto p = std::make_unique<Process>();
  p->logFile = logFile;
  std::vector<std::string> argv{PP_WEBHOOK_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string v(*e);
    if (!v.starts_with("TLS_") && !v.starts_with("TARGET_RUNTIMECLASS=")) env.push_back(v);
  }
  env.insert(env.end(), extraEnv.begin(), extraEnv.end());
  std::vector<char*> cenv;
  for (auto& e : env) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, logFile.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, logFile.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0600);
  int rc = posix_spawn(&p->pid, cargv[0], &actions, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(rc, 0);
  return p;
}

std::string review() {
  return nlohmann::json{
      {"apiVersion", "admission.k8s.io/v1"},
      {"kind", "AdmissionReview"},
      {"request",
       {{"uid", "b1"},
        {"object",
         {{"spec",
           {{"runtimeClassName", "kata-test"},
            {"containers",
             nlohmann::json::array(
                 {{{"name", "c"}, {"resources", {{"requests", {{"cpu", "3"}}}}}}})}}}}}}}}
      .dump();
}

TEST(WebhookBinaryTest, ServesAndStopsOnSigterm) {
  TempDir dir;
  auto ca = net::CertificateAuthority::create("test", "test CA");
  ASSERT_TRUE(ca);
  auto pair = ca->issueServer("127.0.0.1");
  ASSERT_TRUE(pair);
  ASSERT_TRUE(files::writeAtomic(dir.path() + "/tls.crt", pair->certPem));
  ASSERT_TRUE(files::writeAtomic(dir.path() + "/tls.key", pair->keyPem, 0600));
  auto p = spawn({"-cert-dir", dir.path(), "-webhook-host", "127.0.0.1", "-webhook-port", "0",
                  "--health-probe-bind-address=127.0.0.1:0", "--metrics-bind-address=127.0.0.1:0",
                  "--leader-elect", "--zap-log-level=debug"},
                 dir.path() + "/log", {"TARGET_RUNTIMECLASS=kata-test"});
  std::string port = p->waitForLog(R"(serving /mutate-v1-pod on port (\d+))");
  ASSERT_FALSE(port.empty()) << p->log();
  std::string probe = p->waitForLog(R"(probes and metrics on (http://127\.0\.0\.1:\d+))");
  ASSERT_FALSE(probe.empty()) << p->log();

  net::HttpClient client;
  net::HttpRequest req;
  req.method = "POST";
  req.url = "https://127.0.0.1:" + port + "/mutate-v1-pod";
  req.caPem = ca->certPem();
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = review();
  auto r = client.send(req);
  ASSERT_TRUE(r) << r.error().message;
  auto body = nlohmann::json::parse(r->body);
  EXPECT_EQ(body["response"]["uid"], "b1");
  EXPECT_EQ(body["response"]["patchType"], "JSONPatch");  // TARGET_RUNTIMECLASS took effect

  auto health = client.send({.url = probe + "/healthz"});
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto metrics = client.send({.url = probe + "/metrics"});
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("peerpods_webhook_admissions_total{result=\"mutated\"} 1"),
            std::string::npos)
      << metrics->body;

  ASSERT_EQ(::kill(p->pid, SIGTERM), 0);
  EXPECT_EQ(p->wait(), 0) << p->log();
  EXPECT_NE(p->log().find("stopping"), std::string::npos);
}

TEST(WebhookBinaryTest, BadConfigurationExitsWithAReason) {
  TempDir dir, good;
  auto ca = net::CertificateAuthority::create("test", "test CA");
  ASSERT_TRUE(ca);
  auto pair = ca->issueServer("127.0.0.1");
  ASSERT_TRUE(pair);
  ASSERT_TRUE(files::writeAtomic(good.path() + "/tls.crt", pair->certPem));
  ASSERT_TRUE(files::writeAtomic(good.path() + "/tls.key", pair->keyPem, 0600));
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string expected;
  };
  const Case cases[] = {
      {{"-cert-dir", dir.path(), "-health-probe-bind-address", "0", "-metrics-bind-address", "0"},
       {},
       "tls.crt"},
      {{"-no-such-flag"}, {}, "no-such-flag"},
      {{"-cert-dir", dir.path()},
       {"TLS_MIN_VERSION=VersionTLS11"},
       "TLS 1.0 and 1.1 are not supported"},
      {{"-cert-dir", good.path(), "-webhook-host", "127.0.0.1", "-webhook-port", "0",
        "-health-probe-bind-address", "8081"},
       {},
       "must be host:port"},
      {{"-cert-dir", good.path(), "-webhook-port", "70000"}, {}, "-webhook-port must be between"},
  };
  int i = 0;
  for (const auto& c : cases) {
    auto p = spawn(c.args, dir.path() + "/log" + std::to_string(i++), c.env);
    EXPECT_EQ(p->wait(), 1) << p->log();
    EXPECT_NE(p->log().find(c.expected), std::string::npos) << p->log();
  }
}

}  // namespace
