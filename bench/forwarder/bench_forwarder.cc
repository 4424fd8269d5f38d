// Idle memory of the pod VM's agent-protocol-forwarder (issues 4 and 21: target <= 4 MiB RSS with a
// mutual-TLS connection open, printed with PSS and where the pages are), against
// a plain socat relay. Both relay TCP 127.0.0.1:<port> to the stand-in agent's unix socket
// (tests/agent's test-agent); the forwarder runs with -disable-tls -no-pod-network, as socat
// relays plain bytes, and once more with mutual TLS as in production (a CA made here issues the
// server and client certificates; apf.json carries them as the adaptor writes it).
//
// Each run starts the agent and one relay, connects one ttrpc client (as the adaptor's proxy
// keeps one long-lived connection), relays a mix of calls (Health.Check, GetGuestDetails,
// CreateSandbox with DNS, which the forwarder decodes and edits, DestroySandbox), lets the
// relay settle and reads its memory: with the client connection still open (the steady state
// of a running pod), then after the client disconnected. For socat (fork mode) the memory of
// its per-connection child is included. Runs alternate forwarder / socat; medians are printed.
// The forwarder's pages with the connection open are itemised (bench/process_memory.h: the
// program's text and data, heap, malloc arenas, thread stacks, anonymous mappings) as RSS, PSS
// and private dirty pages, plain and with mutual TLS.
//
// Usage: bench_forwarder [--smoke] [--runs N] [--calls N] [--maps] [--forwarder PATH]
//   --smoke  one run with few calls; exits non-zero if a relay fails, never on the target.
//   --maps   also print the forwarder's resident KiB per mapping (mutual TLS, last run).
//   --forwarder PATH  measure another build of the forwarder (e.g. a link variant).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent.pb.h"
#include "agent/health.pb.h"
#include "apf/apf_config.h"
#include "base/log.h"
#include "loopback.h"
#include "net/tls.h"
#include "process_memory.h"
#include "ttrpc/client.h"
#include "ttrpc/io_thread.h"
#include "ttrpc/stream.h"

#if !defined(PP_FORWARDER) || !defined(PP_TEST_AGENT)
#error "PP_FORWARDER and PP_TEST_AGENT must name the programs"
#endif

namespace {

using namespace pp;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr long kTargetKiB = 4096;

// A program in its own process, stdout/stderr to /dev/null, stopped with SIGTERM.
class Process {
 public:
  explicit Process(std::vector<std::string> argv) {
    pid_ = ::fork();
    if (pid_ == 0) {
      if (!std::freopen("/dev/null", "w", stdout) || !std::freopen("/dev/null", "w", stderr))
        ::_exit(127);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Process() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  pid_t pid() const { return pid_; }
  bool running() const { return ::waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  pid_t pid_ = -1;
};

struct Memory {
  long rssKiB = 0;
  long pssKiB = 0;
  long anonKiB = 0;
  long threads = 0;
  int processes = 0;
};

long statusField(const std::string& text, const char* name) {
  auto at = text.find(std::string("\n") + name);
  if (at == std::string::npos) return 0;
  return std::strtol(text.c_str() + at + std::strlen(name) + 1, nullptr, 10);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return "\n" + ss.str();
}

// The process and its descendants (socat forks one child per connection).
std::vector<pid_t> tree(pid_t root) {
  std::map<pid_t, pid_t> parent;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::string stat = slurp(e.path() / "stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    std::string state;
    pid_t ppid = 0;
    fields >> state >> ppid;
    parent[std::stoi(name)] = ppid;
  }
  std::vector<pid_t> out = {root};
  for (size_t i = 0; i < out.size(); ++i) {
    for (auto [pid, pp] : parent) {
      if (pp == out[i]) out.push_back(pid);
    }
  }
  return out;
}

Memory memoryOf(pid_t root) {
  Memory m;
  for (pid_t pid : tree(root)) {
    const fs::path dir = "/proc/" + std::to_string(pid);
    const std::string status = slurp(dir / "status");
    m.rssKiB += statusField(status, "VmRSS:");
    m.anonKiB += statusField(status, "RssAnon:");
    m.threads += statusField(status, "Threads:");
    m.pssKiB += statusField(slurp(dir / "smaps_rollup"), "Pss:");
    ++m.processes;
  }
  return m;
}

// Resident KiB per mapped file (anonymous mappings as "[anon]"), largest first.
std::vector<std::pair<long, std::string>> residentByMapping(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  std::map<std::string, long> kib;
  std::string line, current;
  while (std::getline(in, line)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
        line.find('-') < 17) {
      std::istringstream f(line);
      std::string range, perms, offset, dev, inode, path;
      f >> range >> perms >> offset >> dev >> inode;
      std::getline(f >> std::ws, path);
      current = path.empty() ? "[anon]" : path;
    } else if (line.rfind("Rss:", 0) == 0) {
      kib[current] += std::strtol(line.c_str() + 4, nullptr, 10);
    }
  }
  std::vector<std::pair<long, std::string>> out;
  for (auto& [name, k] : kib) {
    if (k > 0) out.emplace_back(k, name);
  }
  std::sort(out.rbegin(), out.rend());
  return out;
}

template <typename F>
bool waitFor(F ready, std::chrono::milliseconds limit) {
  for (auto until = std::chrono::steady_clock::now() + limit;
       std::chrono::steady_clock::now() < until;) {
    if (ready()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return ready();
}

struct Sample {
  Memory open;                                     // idle, the client's connection still open
  Memory idle;                                     // idle, after the client disconnected
  std::vector<std::pair<long, std::string>> maps;  // of the relay process, connection open
  bench::MemoryParts parts;                        // of the relay process, connection open
};

// One relay measured: `calls` Health.Check calls plus the agent calls around them.
bool measure(const std::vector<std::string>& relayArgv, uint16_t port, int calls,
             std::shared_ptr<asio::ssl::context> tls, Sample& out, std::string& error) {
  Process relay(relayArgv);
  if (!waitFor([&] { return bench::acceptsOnLoopback(port); }, 5s)) {
    error = relayArgv[0] + " did not listen on port " + std::to_string(port);
    return false;
  }
  // socat's fork mode made a child for the probe connection above; let it go.
  waitFor([&] { return tree(relay.pid()).size() == 1; }, 2s);
  ttrpc::IoThread io;
  std::shared_ptr<ttrpc::Client> client;
  std::string failure = io.run([&]() -> asio::awaitable<std::string> {
    auto ex = co_await asio::this_coro::executor;
    ttrpc::TcpTarget target;
    target.host = "127.0.0.1";
    target.port = port;
    target.tls = tls;
    target.serverName = "bench-podvm";
    auto stream = co_await ttrpc::connectTcp(ex, target);
    if (!stream) co_return "connect: " + stream.error().message;
    client = ttrpc::Client::create(std::move(*stream));
    grpc::CheckRequest check;
    for (int i = 0; i < calls; ++i) {
      auto r = co_await client->callTyped<grpc::HealthCheckResponse>("grpc.Health", "Check", check);
      if (!r) co_return "Health.Check: " + r.error().message;
      if (r->status() != grpc::HealthCheckResponse::SERVING) co_return "Health.Check: not SERVING";
    }
    grpc::GuestDetailsRequest details;
    details.set_mem_block_size(true);
    auto d = co_await client->callTyped<grpc::GuestDetailsResponse>("grpc.AgentService",
                                                                    "GetGuestDetails", details);
    if (!d) co_return "GetGuestDetails: " + d.error().message;
    grpc::CreateSandboxRequest sandbox;
    sandbox.set_hostname("bench");
    sandbox.set_sandbox_id("bench-sandbox");
    sandbox.add_dns("nameserver 198.18.0.53");
    // (No non-trivial temporaries inside co_await expressions: GCC 12.)
    const std::string sandboxBytes = sandbox.SerializeAsString();
    const std::string empty;
    auto c = co_await client->call("grpc.AgentService", "CreateSandbox", sandboxBytes);
    if (!c) co_return "CreateSandbox: " + c.error().message;
    auto x = co_await client->call("grpc.AgentService", "DestroySandbox", empty);
    if (!x) co_return "DestroySandbox: " + x.error().message;
    co_return std::string();
  });
  if (!failure.empty()) {
    error = relayArgv[0] + ": " + failure;
    if (client)
      io.run([&]() -> asio::awaitable<void> {
        client->close();
        co_return;
      });
    return false;
  }
  std::this_thread::sleep_for(500ms);
  out.open = memoryOf(relay.pid());
  out.maps = residentByMapping(relay.pid());
  out.parts = bench::memoryParts(relay.pid());
  io.run([&]() -> asio::awaitable<void> {
    client->close();
    client.reset();
    co_return;
  });
  waitFor([&] { return tree(relay.pid()).size() == 1; }, 2s);
  std::this_thread::sleep_for(500ms);
  out.idle = memoryOf(relay.pid());
  if (!relay.running()) {
    error = relayArgv[0] + " exited";
    return false;
  }
  return true;
}

long median(std::vector<long> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Column {
  std::vector<long> rss, pss, anon, threads, processes;
  void add(const Memory& m) {
    rss.push_back(m.rssKiB);
    pss.push_back(m.pssKiB);
    anon.push_back(m.anonKiB);
    threads.push_back(m.threads);
    processes.push_back(m.processes);
  }
};

void printRow(const char* name, const Column& c) {
  std::printf("  %-44s %8ld %8ld %8ld %5ld %5ld\n", name, median(c.rss), median(c.pss),
              median(c.anon), median(c.processes), median(c.threads));
}

}  // namespace

int main(int argc, char** argv) {
  bool smoke = false;
  bool maps = false;
  std::string forwarder = PP_FORWARDER;
  int runs = 5;
  int calls = 20;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--smoke") {
      smoke = true;
      runs = 1;
      calls = 5;
    } else if (a == "--forwarder" && i + 1 < argc) {
      forwarder = argv[++i];
    } else if (a == "--maps") {
      maps = true;
    } else if (a == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--calls" && i + 1 < argc) {
      calls = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(
          stderr,
          "usage: bench_forwarder [--smoke] [--runs N] [--calls N] [--maps] [--forwarder PATH]\n");
      return 2;
    }
  }
  pp::log::setLevel(pp::log::Level::kWarn);
  ::signal(SIGPIPE, SIG_IGN);
  if (std::system("command -v socat >/dev/null 2>&1") != 0) {
    std::fprintf(stderr, "bench_forwarder: socat is missing (scripts/install-deps)\n");
    return 1;
  }

  std::string dirTemplate = "/tmp/bfwd-XXXXXX";  // short: unix socket paths must stay < 108 bytes
  if (::mkdtemp(dirTemplate.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const fs::path dir = dirTemplate;
  const std::string agentSocket = (dir / "agent.sock").string();
  const std::string apf = (dir / "apf.json").string();
  std::ofstream(apf) << apf::ApfConfig().toJsonIndented();
  // Mutual TLS material, as the adaptor makes it for a pod VM.
  auto ca = net::CertificateAuthority::create(net::kCaOrganization, "bench-ca");
  if (!ca) {
    std::fprintf(stderr, "bench_forwarder: %s\n", ca.error().message.c_str());
    return 1;
  }
  auto server = ca->issueServer("bench-podvm");
  auto clientCert = ca->issueClient(net::kClientOrganization, "bench-client");
  if (!server || !clientCert) {
    std::fprintf(stderr, "bench_forwarder: cannot issue the TLS certificates\n");
    return 1;
  }
  const std::string apfTls = (dir / "apf-tls.json").string();
  apf::ApfConfig tlsConfig;
  tlsConfig.tlsServerCert = server->certPem;
  tlsConfig.tlsServerKey = server->keyPem;
  tlsConfig.tlsClientCa = ca->certPem();
  std::ofstream(apfTls) << tlsConfig.toJsonIndented();
  auto clientTls = net::makeClientContext(
      {clientCert->certPem, clientCert->keyPem, ca->certPem(), "bench-podvm", false});
  if (!clientTls) {
    std::fprintf(stderr, "bench_forwarder: %s\n", clientTls.error().message.c_str());
    return 1;
  }

  Column fwdOpen, fwdIdle, tlsOpen, tlsIdle, socatOpen, socatIdle;
  std::vector<std::pair<long, std::string>> tlsMaps;
  std::vector<bench::MemoryParts> fwdParts, tlsParts;
  std::string error;
  bool ok = true;
  for (int run = 0; run < runs && ok; ++run) {
    fs::remove(agentSocket);
    Process agent({PP_TEST_AGENT, "-listen", agentSocket});
    if (!waitFor([&] { return fs::exists(agentSocket); }, 5s)) {
      error = "test-agent did not start";
      ok = false;
      break;
    }
    for (int which = 0; which < 3 && ok; ++which) {
      const uint16_t port = bench::freeLoopbackPort();
      const std::string listen = "127.0.0.1:" + std::to_string(port);
      std::vector<std::string> argvRelay;
      if (which == 0) {
        argvRelay = {forwarder,
                     "-disable-tls",
                     "-no-pod-network",
                     "-config",
                     apf,
                     "-listen",
                     listen,
                     "-kata-agent-socket",
                     agentSocket,
                     "-pod-namespace",
                     (dir / "podns").string()};
      } else if (which == 1) {
        argvRelay = {forwarder,
                     "-no-pod-network",
                     "-config",
                     apfTls,
                     "-listen",
                     listen,
                     "-kata-agent-socket",
                     agentSocket,
                     "-pod-namespace",
                     (dir / "podns").string()};
      } else {
        argvRelay = {"socat",
                     "TCP-LISTEN:" + std::to_string(port) + ",bind=127.0.0.1,reuseaddr,fork",
                     "UNIX-CONNECT:" + agentSocket};
      }
      Sample s;
      if (!measure(argvRelay, port, calls, which == 1 ? *clientTls : nullptr, s, error)) {
        ok = false;
        break;
      }
      if (which == 0) fwdParts.push_back(s.parts);
      if (which == 1) {
        tlsMaps = s.maps;
        tlsParts.push_back(s.parts);
      }
      Column& open = which == 0 ? fwdOpen : which == 1 ? tlsOpen : socatOpen;
      Column& idle = which == 0 ? fwdIdle : which == 1 ? tlsIdle : socatIdle;
      open.add(s.open);
      idle.add(s.idle);
    }
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!ok) {
    std::fprintf(stderr, "bench_forwarder: %s\n", error.c_str());
    return 1;
  }

  std::printf(
      "agent relay memory after %d relayed calls, median of %d run%s (KiB; socat includes its "
      "per-connection child)\n",
      calls + 3, runs, runs == 1 ? "" : "s");
  std::printf("  %-44s %8s %8s %8s %5s %5s\n", "relay", "RSS", "PSS", "anon", "procs", "thr");
  printRow("agent-protocol-forwarder, connection open", fwdOpen);
  printRow("socat, connection open", socatOpen);
  printRow("agent-protocol-forwarder, after disconnect", fwdIdle);
  printRow("socat, after disconnect", socatIdle);
  printRow("forwarder with mutual TLS, connection open", tlsOpen);
  printRow("forwarder with mutual TLS, after disconnect", tlsIdle);
  const double ratioOpen =
      static_cast<double>(median(fwdOpen.rss)) / std::max(1L, median(socatOpen.rss));
  const double ratioIdle =
      static_cast<double>(median(fwdIdle.rss)) / std::max(1L, median(socatIdle.rss));
  std::printf("  RSS ratio forwarder/socat: %.2fx connection open, %.2fx after disconnect\n",
              ratioOpen, ratioIdle);
  // Issue 21's row: idle with the adaptor's mutual-TLS connection open, as in a running pod.
  const long tlsRss = median(tlsOpen.rss);
  std::printf(
      "  target: forwarder idle RSS with a mutual-TLS connection open <= %ld KiB (4 MiB): %s "
      "(RSS %ld KiB, PSS %ld KiB, ratio %.2fx; plain TCP: RSS %ld KiB, PSS %ld KiB)\n",
      kTargetKiB, tlsRss <= kTargetKiB ? "met" : "MISSED", tlsRss, median(tlsOpen.pss),
      static_cast<double>(tlsRss) / kTargetKiB, median(fwdOpen.rss), median(fwdOpen.pss));
  std::printf("forwarder pages by part, connection open (median of %d run%s)\n", runs,
              runs == 1 ? "" : "s");
  bench::printParts(
      {{"plain TCP", bench::medianParts(fwdParts)}, {"mutual TLS", bench::medianParts(tlsParts)}});
  if (smoke) std::printf("  (smoke run: numbers from a single short run)\n");
  if (maps) {
    std::printf("forwarder with mutual TLS: resident KiB by mapping (connection open, last run)\n");
    for (const auto& [k, name] : tlsMaps) std::printf("  %6ld  %s\n", k, name.c_str());
  }
  return 0;
}
