// The agent calls of a pod through the real proxy chain, against socat relaying the same hops
// with the same TLS (issue 21: ours <= 1.0x socat's p50 at 1 caller, >= 1.0x its calls/s at 64).
//
// Rows, each a Go ttrpc client (bench/ttrpc's ttrpc-go-bench: the containerd library the Kata
// shim uses) making grpc.Health/Check calls from 1, 16 and 64 goroutines on one connection:
//   agent   straight to the agent's socket: the floor, no relay.
//   ours    <pods-dir>/<id>/agent.ttrpc of the real cloud-api-adaptor, whose proxy relays over
//           TCP 127.0.0.1 with mutual TLS to the real agent-protocol-forwarder, which relays to
//           tests/agent's test-agent. The adaptor runs the fakecloud plugin (tests/chaos: every
//           "VM" has IP 127.0.0.1); this program plays the shim for CreateVM and StartVM over
//           the hypervisor socket and starts the forwarder with the apf.json the adaptor made
//           for the VM (its server certificate and key, and the adaptor's client CA).
//   socat   socat UNIX-LISTEN -> OPENSSL (the adaptor's client certificate, verifying the VM's
//           certificate and name) -> socat OPENSSL-LISTEN (the VM's certificate, verifying the
//           client's) -> UNIX-CONNECT to the same agent. TCP_NODELAY on both TCP ends, as ours.
// Rounds are interleaved (every row and caller count, then again); medians are printed with
// the range over rounds, and the relays' CPU time per call (ours: adaptor + forwarder; socat:
// both relays and their per-connection children).
//
// Usage: bench_chain [--smoke] [--seconds S] [--rounds R] [--alt DIR] [--hold]
//   --smoke  one short round; exits non-zero only if a chain fails, never on the targets.
//   --alt    DIR holds another build's cloud-api-adaptor and agent-protocol-forwarder (copies
//            made before a change): a row "ours (--alt)" runs them, interleaved with the
//            others, for a before/after on the same machine at the same time.
//   --hold   set up the chains, print their sockets and the relays' pids (for perf record),
//            and wait until stdin closes.
// Run it with `scripts/bench chain` (release build). Loopback only; no root needed.
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "apf/apf_config.h"
#include "base/log.h"
#include "loopback.h"
#include "shim_client.h"

#if !defined(PP_ADAPTOR) || !defined(PP_FORWARDER) || !defined(PP_TEST_AGENT) || \
    !defined(PP_FAKECLOUD_PLUGIN) || !defined(PP_GO_BENCH)
#error "PP_ADAPTOR, PP_FORWARDER, PP_TEST_AGENT, PP_FAKECLOUD_PLUGIN and PP_GO_BENCH must be set"
#endif

namespace {

using namespace pp;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Health.Check: an empty CheckRequest; the answer is status SERVING (field 1 = 1).
constexpr char kMethod[] = "grpc.Health/Check";
constexpr char kRequestHex[] = "";
constexpr char kResponseHex[] = "0801";

// A program in its own process, its output appended to `logFile`, stopped with SIGTERM (and
// by the kernel if this program dies first).
class Process {
 public:
  Process(std::vector<std::string> argv, const std::string& logFile,
          std::vector<std::pair<std::string, std::string>> env = {})
      : name_(fs::path(argv[0]).filename().string()) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      int fd = ::open(logFile.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (fd < 0 || ::dup2(fd, 1) < 0 || ::dup2(fd, 2) < 0) ::_exit(127);
      int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (null < 0 || ::dup2(null, 0) < 0) ::_exit(127);
      ::unsetenv("KUBECONFIG");  // the adaptor must not find a cluster
      for (auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
      ::_exit(127);
    }
  }
  ~Process() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200 && running(); ++i) std::this_thread::sleep_for(10ms);
    if (running()) ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }
  bool running() const {
    if (exited_) return false;
    if (::waitpid(pid_, nullptr, WNOHANG) == 0) return true;
    exited_ = true;
    return false;
  }

 private:
  std::string name_;
  pid_t pid_ = -1;
  mutable bool exited_ = false;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Fields of /proc/<pid>/stat after the command name: [0] is field 3 (state).
std::vector<std::string> statFields(pid_t pid) {
  std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream in(stat.substr(close + 2));
  std::vector<std::string> out;
  for (std::string f; in >> f;) out.push_back(f);
  return out;
}

// CPU seconds of a process, its threads and its children that it has waited for.
double cpuSeconds(pid_t pid) {
  auto f = statFields(pid);
  if (f.size() < 15) return 0;
  double ticks = 0;
  for (int field = 14; field <= 17; ++field) ticks += std::stod(f[field - 3]);
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

int childCount(pid_t parent) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    auto f = statFields(std::stoi(name));
    if (f.size() > 1 && std::stoi(f[1]) == parent) ++n;
  }
  return n;
}

template <typename F>
bool waitFor(F ready, std::chrono::milliseconds limit) {
  for (auto until = Clock::now() + limit; Clock::now() < until;) {
    if (ready()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return ready();
}

std::optional<std::string> sha256File(const std::string& path) {
  std::string data = slurp(path);
  if (data.empty()) return std::nullopt;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1)
    return std::nullopt;
  std::string hex;
  char b[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(b, sizeof b, "%02x", md[i]);
    hex += b;
  }
  return hex;
}

bool writeFile(const fs::path& p, const std::string& text) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  return ::close(fd) == 0 && ok;
}

std::string tail(const fs::path& p, size_t lines) {
  std::ifstream in(p);
  std::vector<std::string> all;
  for (std::string l; std::getline(in, l);) all.push_back(l);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i)
    out += "    " + all[i] + "\n";
  return out;
}

// The real chain: an adaptor (fakecloud plugin, its default mutual TLS) with one sandbox, and
// the forwarder standing in for that sandbox's VM on 127.0.0.1.
struct OursChain {
  std::string label;
  std::unique_ptr<Process> adaptor, forwarder;
  std::unique_ptr<peerpodctl::ShimClient> shim;
  std::string sandboxId, socket;
  fs::path podsDir, sandboxDir;

  ~OursChain() {
    if (shim && !sandboxId.empty() && adaptor && adaptor->running()) {
      if (auto st = shim->stopVM(sandboxId); !st)
        std::fprintf(stderr, "bench_chain: StopVM: %s\n", st.error().message.c_str());
    }
    shim.reset();
    adaptor.reset();
    forwarder.reset();
  }
};

// Starts `c` in directory `d` (its own pods directory, sockets and ports), relaying to
// `agentSocket`; "" when both hops answered StartVM's connection.
std::string setUpOurs(OursChain& c, const fs::path& d, const std::string& agentSocket,
                      const std::string& adaptorBin, const std::string& forwarderBin) {
  fs::create_directories(d);
  const uint16_t forwarderPort = bench::freeLoopbackPort(), probePort = bench::freeLoopbackPort();
  if (forwarderPort == 0 || probePort == 0 || forwarderPort == probePort)
    return "cannot find two free ports on 127.0.0.1";
  auto hash = sha256File(PP_FAKECLOUD_PLUGIN);
  if (!hash) return std::string("cannot read ") + PP_FAKECLOUD_PLUGIN;
  const std::string hypervisorSocket = (d / "h.sock").string();
  c.podsDir = d / "pods";
  c.adaptor = std::make_unique<Process>(
      std::vector<std::string>{adaptorBin, "fakecloud", "-fakecloud-dir", (d / "cloud").string(),
                               "-socket", hypervisorSocket, "-pods-dir", c.podsDir.string(),
                               "-forwarder-port", std::to_string(forwarderPort), "-probe-port",
                               std::to_string(probePort)},
      d / "adaptor.log",
      std::vector<std::pair<std::string, std::string>>{
          {"ENABLE_CLOUD_PROVIDER_EXTERNAL_PLUGIN", "true"},
          {"CLOUD_PROVIDER_EXTERNAL_PLUGIN_PATH", PP_FAKECLOUD_PLUGIN},
          {"CLOUD_PROVIDER_EXTERNAL_PLUGIN_HASH", *hash}});
  if (!waitFor([&] { return fs::exists(hypervisorSocket) || !c.adaptor->running(); }, 20s) ||
      !c.adaptor->running())
    return "cloud-api-adaptor did not start:\n" + tail(d / "adaptor.log", 15);

  // CreateVM as the shim; the adaptor writes the VM's apf.json (with its TLS material).
  c.shim = std::make_unique<peerpodctl::ShimClient>(hypervisorSocket);
  c.sandboxId = peerpodctl::ShimClient::newSandboxId();
  peerpodctl::PodOptions pod;
  pod.podName = "bench-chain";
  auto agentTtrpc = c.shim->createVM(c.sandboxId, pod);
  if (!agentTtrpc) {
    std::string err = "CreateVM: " + agentTtrpc.error().message;
    c.sandboxId.clear();
    return err + "\n" + tail(d / "adaptor.log", 15);
  }
  c.socket = *agentTtrpc;
  c.sandboxDir = c.podsDir / c.sandboxId;

  // The "VM": the forwarder on 127.0.0.1 with that apf.json; no pod network.
  c.forwarder = std::make_unique<Process>(
      std::vector<std::string>{forwarderBin, "-config", (c.sandboxDir / "apf.json").string(),
                               "-listen", "127.0.0.1:" + std::to_string(forwarderPort),
                               "-kata-agent-socket", agentSocket, "-no-pod-network",
                               "-pod-namespace", "/proc/self/ns/net"},
      d / "forwarder.log");
  if (!waitFor([&] { return bench::acceptsOnLoopback(forwarderPort) || !c.forwarder->running(); },
               10s) ||
      !c.forwarder->running())
    return "agent-protocol-forwarder did not start:\n" + tail(d / "forwarder.log", 15);
  if (auto st = c.shim->startVM(c.sandboxId, 60s); !st)
    return "StartVM: " + st.error().message + "\n" + tail(d / "adaptor.log", 15);
  return "";
}

// The agent, our chain (and optionally a second build of it), and socat's.
struct Chains {
  fs::path dir;
  std::unique_ptr<Process> agent, socatVm, socatNode;
  OursChain ours, alt;
  std::string agentSocket, socatSocket;

  ~Chains() {
    socatNode.reset();
    socatVm.reset();
  }
};

// `altBin`: a directory holding another build's cloud-api-adaptor and agent-protocol-forwarder
// to set up as a second chain ("" for none).
std::string setUp(Chains& c, const std::string& altBin) {
  const fs::path& d = c.dir;
  c.agentSocket = (d / "agent.sock").string();
  c.agent = std::make_unique<Process>(
      std::vector<std::string>{PP_TEST_AGENT, "-listen", c.agentSocket}, d / "agent.log");
  if (!waitFor([&] { return fs::exists(c.agentSocket); }, 5s)) return "test-agent did not start";

  c.ours.label = "ours";
  if (auto err = setUpOurs(c.ours, d / "o", c.agentSocket, PP_ADAPTOR, PP_FORWARDER); !err.empty())
    return err;
  if (!altBin.empty()) {
    c.alt.label = "ours (--alt)";
    if (auto err = setUpOurs(c.alt, d / "a", c.agentSocket,
                             (fs::path(altBin) / "cloud-api-adaptor").string(),
                             (fs::path(altBin) / "agent-protocol-forwarder").string());
        !err.empty())
      return "--alt " + altBin + ": " + err;
  }

  // socat with the same certificates: the VM's (server) and the adaptor's client certificate.
  auto apf = apf::ApfConfig::parse(slurp(c.ours.sandboxDir / "apf.json"));
  if (!apf) return "the VM's apf.json: " + apf.error().message;
  if (apf->tlsServerCert.empty() || apf->tlsServerKey.empty() || apf->tlsClientCa.empty())
    return "the VM's apf.json has no TLS material: is the adaptor running with -disable-tls?";
  nlohmann::json state =
      nlohmann::json::parse(slurp(c.ours.sandboxDir / "state.json"), nullptr, false);
  const std::string instanceName =
      state.is_object() ? state.value("instanceName", std::string()) : std::string();
  if (instanceName.empty())
    return "no instanceName in " + (c.ours.sandboxDir / "state.json").string();
  const fs::path tlsDir = c.ours.podsDir / ".tls", socatDir = d / "socat";
  fs::create_directories(socatDir);
  const std::string clientCert = slurp(tlsDir / "client.crt"),
                    clientKey = slurp(tlsDir / "client.key"), ca = slurp(tlsDir / "ca.crt");
  if (clientCert.empty() || clientKey.empty() || ca.empty())
    return "the adaptor's client certificate is not in " + tlsDir.string();
  if (!writeFile(socatDir / "server.pem", apf->tlsServerCert + apf->tlsServerKey) ||
      !writeFile(socatDir / "client-ca.pem", apf->tlsClientCa) ||
      !writeFile(socatDir / "client.pem", clientCert + clientKey) ||
      !writeFile(socatDir / "ca.pem", ca))
    return "cannot write the certificates for socat in " + socatDir.string();
  const uint16_t socatPort = bench::freeLoopbackPort();
  if (socatPort == 0) return "cannot find a free port on 127.0.0.1";
  c.socatVm = std::make_unique<Process>(
      std::vector<std::string>{"socat",
                               "OPENSSL-LISTEN:" + std::to_string(socatPort) +
                                   ",bind=127.0.0.1,reuseaddr,fork,nodelay,verify=1,cert=" +
                                   (socatDir / "server.pem").string() +
                                   ",cafile=" + (socatDir / "client-ca.pem").string(),
                               "UNIX-CONNECT:" + c.agentSocket},
      d / "socat-vm.log");
  c.socatSocket = (d / "socat.sock").string();
  c.socatNode = std::make_unique<Process>(
      std::vector<std::string>{"socat", "UNIX-LISTEN:" + c.socatSocket + ",fork",
                               "OPENSSL:127.0.0.1:" + std::to_string(socatPort) +
                                   ",nodelay,verify=1,commonname=" + instanceName +
                                   ",cert=" + (socatDir / "client.pem").string() +
                                   ",cafile=" + (socatDir / "ca.pem").string()},
      d / "socat-node.log");
  if (!waitFor([&] { return bench::acceptsOnLoopback(socatPort) || !c.socatVm->running(); }, 5s) ||
      !c.socatVm->running())
    return "socat OPENSSL-LISTEN did not start:\n" + tail(d / "socat-vm.log", 10);
  if (!waitFor([&] { return fs::exists(c.socatSocket) || !c.socatNode->running(); }, 5s) ||
      !c.socatNode->running())
    return "socat UNIX-LISTEN did not start:\n" + tail(d / "socat-node.log", 10);
  return "";
}

struct Sample {
  double callsPerSec = 0;
  double p50us = 0;
  double p99us = 0;
  double relayCpuUsPerCall = -1;  // -1: no relay
  std::string error;
};

// One run of the Go client: "<calls/s> <p50 us> <p99 us>" on its stdout, errors on stderr.
Sample runGo(const std::string& socket, int callers, double seconds, const fs::path& errFile) {
  std::string cmd = std::string(PP_GO_BENCH) + " -method " + kMethod + " -request '" + kRequestHex +
                    "' -response " + kResponseHex + " " + socket + " " + std::to_string(callers) +
                    " " + std::to_string(seconds) + " 2>" + errFile.string();
  Sample s;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) {
    s.error = "popen: " + std::string(std::strerror(errno));
    return s;
  }
  if (std::fscanf(p, "%lf %lf %lf", &s.callsPerSec, &s.p50us, &s.p99us) != 3) s.callsPerSec = 0;
  if (::pclose(p) != 0 || s.callsPerSec <= 0) {
    s = {};
    std::string err = slurp(errFile);
    while (!err.empty() && err.back() == '\n') err.pop_back();
    s.error = err.empty() ? "ttrpc-go-bench failed" : err;
  }
  return s;
}

struct Row {
  const char* name;
  std::string socket;
  std::vector<const Process*> relays;  // whose CPU is counted
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Runs {
  std::vector<double> callsPerSec, p50us, p99us, relayCpu;
  std::string range(const std::vector<double>& v, const char* fmt) const {
    if (v.size() < 2) return "-";
    auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    char a[32], b[32];
    std::snprintf(a, sizeof a, fmt, *lo);
    std::snprintf(b, sizeof b, fmt, *hi);
    return std::string(a) + ".." + b;
  }
};

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2.0;
  int rounds = 3;
  bool smoke = false, hold = false;
  std::string altBin;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--smoke") {
      smoke = true;
      seconds = 0.3;
      rounds = 1;
    } else if (a == "--hold") {
      hold = true;
    } else if (a == "--alt" && i + 1 < argc) {
      altBin = argv[++i];
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else {
      std::fprintf(
          stderr, "usage: bench_chain [--smoke] [--seconds S] [--rounds R] [--alt DIR] [--hold]\n");
      return 2;
    }
  }
  if (seconds <= 0 || rounds < 1) {
    std::fprintf(stderr, "bench_chain: --seconds must be positive and --rounds at least 1\n");
    return 2;
  }
  pp::log::setLevel(pp::log::Level::kError);
  ::signal(SIGPIPE, SIG_IGN);
  if (std::system("command -v socat >/dev/null 2>&1") != 0) {
    std::fprintf(stderr, "bench_chain: socat is missing (scripts/install-deps)\n");
    return 1;
  }
  // Short: <pods-dir>/<64-hex id>/agent.ttrpc must stay under 108 bytes.
  std::string dirTemplate = "/tmp/bch-XXXXXX";
  if (::mkdtemp(dirTemplate.data()) == nullptr) {
    std::perror("bench_chain: mkdtemp");
    return 1;
  }
  bool keepDir = false;
  int status = 0;
  {
    Chains chains;
    chains.dir = dirTemplate;
    if (std::string err = setUp(chains, altBin); !err.empty()) {
      std::fprintf(stderr, "bench_chain: %s\n  (logs kept in %s)\n", err.c_str(),
                   dirTemplate.c_str());
      keepDir = true;
      status = 1;
    } else if (hold) {
      std::printf("agent  %s (test-agent pid %d)\n", chains.agentSocket.c_str(),
                  chains.agent->pid());
      for (const OursChain* o : {&chains.ours, &chains.alt}) {
        if (!o->adaptor) continue;
        std::printf("%-6s %s (cloud-api-adaptor pid %d, agent-protocol-forwarder pid %d)\n",
                    o == &chains.ours ? "ours" : "alt", o->socket.c_str(), o->adaptor->pid(),
                    o->forwarder->pid());
      }
      std::printf("socat  %s (node-side socat pid %d, VM-side socat pid %d)\n",
                  chains.socatSocket.c_str(), chains.socatNode->pid(), chains.socatVm->pid());
      std::printf("client %s -method %s -request '%s' -response %s SOCKET CALLERS SECONDS\n",
                  PP_GO_BENCH, kMethod, kRequestHex, kResponseHex);
      std::printf("holding until stdin closes\n");
      std::fflush(stdout);
      for (std::string line; std::getline(std::cin, line);) {
      }
    } else {
      // Rows 1 and 2 are compared; the optional --alt row comes last.
      std::vector<Row> rows = {
          {"agent (no relay)", chains.agentSocket, {}},
          {"ours", chains.ours.socket, {chains.ours.adaptor.get(), chains.ours.forwarder.get()}},
          {"socat", chains.socatSocket, {chains.socatNode.get(), chains.socatVm.get()}},
      };
      if (chains.alt.adaptor) {
        rows.push_back({chains.alt.label.c_str(),
                        chains.alt.socket,
                        {chains.alt.adaptor.get(), chains.alt.forwarder.get()}});
      }
      const std::vector<int> callerCounts = {1, 16, 64};
      std::map<std::pair<size_t, int>, Runs> results;
      std::vector<std::string> failures;
      const fs::path errFile = chains.dir / "client.err";
      for (int r = 0; r < rounds; ++r) {
        for (int callers : callerCounts) {
          for (size_t i = 0; i < rows.size(); ++i) {
            const Row& row = rows[i];
            double cpu0 = 0;
            for (const Process* p : row.relays) cpu0 += cpuSeconds(p->pid());
            Sample s = runGo(row.socket, callers, seconds, errFile);
            if (!s.error.empty()) {
              failures.push_back(std::string(row.name) + ", " + std::to_string(callers) +
                                 " caller(s): " + s.error);
              continue;
            }
            // socat's per-connection children count once their parent has reaped them.
            for (const Process* p : row.relays)
              waitFor([&] { return childCount(p->pid()) == 0; }, 2s);
            double cpu = -cpu0;
            for (const Process* p : row.relays) cpu += cpuSeconds(p->pid());
            const double calls = s.callsPerSec * seconds;
            auto& res = results[{i, callers}];
            res.callsPerSec.push_back(s.callsPerSec);
            res.p50us.push_back(s.p50us);
            res.p99us.push_back(s.p99us);
            if (!row.relays.empty() && calls > 0) res.relayCpu.push_back(cpu * 1e6 / calls);
          }
        }
      }
      for (const auto& row : rows) {
        for (const Process* p : row.relays) {
          if (!p->running()) failures.push_back(p->name() + " exited during the runs");
        }
      }
      if (!chains.agent->running()) failures.push_back("test-agent exited during the runs");

      std::printf(
          "bench_chain: %s from the Go ttrpc client (as the Kata shim) through the proxy chain,\n"
          "%d interleaved round(s) x %.1f s, medians (range over rounds); relay us/c = CPU time "
          "of the\nrelays per call (ours: adaptor + forwarder; socat: both relays and their "
          "children)\n\n",
          kMethod, rounds, seconds);
      std::printf("%-17s %7s %9s %8s %8s %10s %15s %17s\n", "chain", "callers", "calls/s", "p50 us",
                  "p99 us", "relay us/c", "p50 range", "calls/s range");
      std::map<std::pair<size_t, int>, std::pair<double, double>> med;  // p50, calls/s
      for (int callers : callerCounts) {
        for (size_t i = 0; i < rows.size(); ++i) {
          auto it = results.find({i, callers});
          if (it == results.end()) {
            std::printf("%-17s %7d %9s\n", rows[i].name, callers, "failed");
            continue;
          }
          const Runs& res = it->second;
          double p50 = median(res.p50us), cps = median(res.callsPerSec);
          med[{i, callers}] = {p50, cps};
          char cpu[16] = "-";
          if (!res.relayCpu.empty()) std::snprintf(cpu, sizeof cpu, "%.1f", median(res.relayCpu));
          std::printf("%-17s %7d %9.0f %8.1f %8.1f %10s %15s %17s\n", rows[i].name, callers, cps,
                      p50, median(res.p99us), cpu, res.range(res.p50us, "%.0f").c_str(),
                      res.range(res.callsPerSec, "%.0f").c_str());
        }
      }
      std::printf(
          "\nours vs socat (targets: p50 ratio <= 1.0 at 1 caller, calls/s ratio >= 1.0 at 64)\n");
      std::printf("%7s %10s %14s\n", "callers", "p50 ratio", "calls/s ratio");
      for (int callers : callerCounts) {
        auto o = med.find({1, callers}), s = med.find({2, callers});
        if (o == med.end() || s == med.end()) continue;
        const double p50Ratio = o->second.first / s->second.first;
        const double cpsRatio = o->second.second / s->second.second;
        std::string note;
        if (callers == 1) note = p50Ratio <= 1.0 ? "  p50 target met" : "  p50 target MISSED";
        if (callers == 64)
          note = cpsRatio >= 1.0 ? "  calls/s target met" : "  calls/s target MISSED";
        std::printf("%7d %10.2f %14.2f%s\n", callers, p50Ratio, cpsRatio, note.c_str());
      }
      if (rows.size() > 3) {
        std::printf("\nours vs ours (--alt %s): the change measured in the same run\n",
                    altBin.c_str());
        std::printf("%7s %10s %14s\n", "callers", "p50 ratio", "calls/s ratio");
        for (int callers : callerCounts) {
          auto o = med.find({1, callers}), a = med.find({3, callers});
          if (o == med.end() || a == med.end()) continue;
          std::printf("%7d %10.2f %14.2f\n", callers, o->second.first / a->second.first,
                      o->second.second / a->second.second);
        }
      }
      if (smoke) std::printf("(smoke run: one short round, not a measurement)\n");
      if (!failures.empty()) {
        for (const auto& f : failures) std::fprintf(stderr, "bench_chain: %s\n", f.c_str());
        std::fprintf(stderr, "  (logs kept in %s)\n", dirTemplate.c_str());
        keepDir = true;
        status = 1;
      }
    }
  }
  if (!keepDir) {
    std::error_code ec;
    fs::remove_all(dirTemplate, ec);
  }
  return status;
}
