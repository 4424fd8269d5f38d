// Unary ttrpc round trips over a unix socket: our client and server against the Go ttrpc
// (containerd, Debian) client and server, measured side by side in the same run.
//
// Both servers run in processes of their own (tests/interop's ttrpc-cpp-server and
// ttrpc-go-server). Our client runs in this process on one I/O thread; the Go client is the
// ttrpc-go-bench program. Every pair runs at 1, 16 and 64 concurrent callers on one connection;
// rounds are interleaved (all pairs and caller counts, then again) and medians are printed, with
// the CPU time per call of client and server.
//
// The floor row: a blocking client on this process's main thread against floor-echo-server (a
// C-style server that echoes each frame), the same socket type and frame sizes, one caller.
// Every one-caller row is also printed as a ratio to it: what the ttrpc layers cost on top of
// the socket and the scheduler's wake-ups.
//
// Usage: bench_ttrpc [--smoke] [--seconds S] [--rounds R]
//   --smoke  one short round; exits non-zero if any pair fails to complete calls.
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/log.h"
#include "ttrpc/client.h"
#include "ttrpc/io_thread.h"

#if !defined(PP_CPP_SERVER) || !defined(PP_GO_SERVER) || !defined(PP_GO_BENCH) || \
    !defined(PP_FLOOR_SERVER)
#error "PP_CPP_SERVER, PP_GO_SERVER, PP_GO_BENCH and PP_FLOOR_SERVER must name the peer programs"
#endif

namespace {

using namespace pp;
using Clock = std::chrono::steady_clock;

struct Sample {
  double callsPerSec = 0;
  double p50us = 0;
  double p99us = 0;
  double calls = 0;
};

// A server program in its own process, stopped with SIGTERM.
class ServerProcess {
 public:
  ServerProcess(const char* binary, std::string socket) : socket_(std::move(socket)) {
    std::filesystem::remove(socket_);
    pid_ = ::fork();
    if (pid_ == 0) {
      if (!std::freopen("/dev/null", "w", stdout)) ::_exit(127);
      ::execl(binary, binary, socket_.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 250 && !std::filesystem::exists(socket_); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!std::filesystem::exists(socket_)) {
      std::fprintf(stderr, "bench_ttrpc: %s did not start\n", binary);
      std::exit(1);
    }
  }
  ~ServerProcess() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    std::filesystem::remove(socket_);
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  const std::string& socket() const { return socket_; }

  // User + system CPU seconds the process has used so far.
  double cpuSeconds() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Fields after the ")" that ends the command name: state is field 3, utime 14, stime 15.
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
      if (i >= 14) ticks += std::stod(field);
    }
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }

 private:
  std::string socket_;
  pid_t pid_ = -1;
};

// BytesValue{value: 32 bytes}: the payload the Go client sends too.
const std::string kPayload = std::string("\x0a\x20", 2) + "0123456789abcdef0123456789abcdef";

Sample fromLatencies(std::vector<double> us, double seconds) {
  if (us.empty() || seconds <= 0) return {};
  std::sort(us.begin(), us.end());
  auto q = [&](double p) {
    return us[static_cast<size_t>(p * static_cast<double>(us.size() - 1))];
  };
  return {static_cast<double>(us.size()) / seconds, q(0.5), q(0.99),
          static_cast<double>(us.size())};
}

// `callers` coroutines on one connection and one I/O thread, each calling in a loop.
Sample runOurClient(const std::string& socket, int callers, double seconds) {
  ttrpc::IoThread io;
  std::vector<std::vector<double>> latencies(callers);
  bool failed = false;
  double elapsed = io.run([&]() -> asio::awaitable<double> {
    auto ex = co_await asio::this_coro::executor;
    auto stream = co_await ttrpc::connectUnix(ex, socket);
    if (!stream) co_return 0.0;
    auto client = ttrpc::Client::create(std::move(*stream));
    auto start = Clock::now();
    auto until =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    int running = callers;
    asio::steady_timer allDone(ex, Clock::time_point::max());
    for (int c = 0; c < callers; ++c) {
      asio::co_spawn(
          ex,
          [&, c]() -> asio::awaitable<void> {
            auto& mine = latencies[c];
            for (auto t = Clock::now(); t < until; t = Clock::now()) {
              auto r = co_await client->call("interop.Echo", "Echo", kPayload);
              if (!r || *r != kPayload) {
                failed = true;
                break;
              }
              mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
            }
            if (--running == 0) allDone.cancel();
          },
          asio::detached);
    }
    co_await allDone.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    client->close();
    co_return secs;
  });
  if (failed) return {};
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  return fromLatencies(std::move(all), elapsed);
}

// One caller, blocking: a request frame the size of a real Echo call (ttrpc Request with
// service, method and the 34-byte payload) written, the echoed frame read back.
Sample runFloorClient(const std::string& socket, double seconds) {
  std::string body;
  auto field = [&](char tag, const std::string& v) {
    body.push_back(tag);
    body.push_back(static_cast<char>(v.size()));
    body += v;
  };
  field('\x0a', "interop.Echo");
  field('\x12', "Echo");
  field('\x1a', kPayload);
  std::string frame(10, '\0');
  frame[3] = static_cast<char>(body.size());
  frame[7] = 1;  // stream 1
  frame[8] = 1;  // request
  frame += body;

  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (fd >= 0) ::close(fd);
    return {};
  }
  std::string back(frame.size(), '\0');
  std::vector<double> us;
  auto start = Clock::now();
  auto until =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  bool ok = true;
  for (auto t = Clock::now(); t < until && ok; t = Clock::now()) {
    ok = ::write(fd, frame.data(), frame.size()) == static_cast<ssize_t>(frame.size());
    size_t got = 0;
    while (ok && got < back.size()) {
      ssize_t r = ::read(fd, back.data() + got, back.size() - got);
      ok = r > 0;
      if (ok) got += static_cast<size_t>(r);
    }
    if (ok) us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
  }
  ::close(fd);
  if (!ok || back != frame) return {};
  return fromLatencies(std::move(us), std::chrono::duration<double>(Clock::now() - start).count());
}

Sample runGoClient(const std::string& socket, int callers, double seconds) {
  std::string cmd = std::string(PP_GO_BENCH) + " " + socket + " " + std::to_string(callers) + " " +
                    std::to_string(seconds);
  FILE* p = ::popen(cmd.c_str(), "r");
  Sample s;
  if (!p) return s;
  if (std::fscanf(p, "%lf %lf %lf", &s.callsPerSec, &s.p50us, &s.p99us) != 3) s = {};
  if (::pclose(p) != 0) s = {};
  s.calls = s.callsPerSec * seconds;
  return s;
}

// CPU seconds used so far by this process (our client: the main thread only waits) or by its
// reaped children (the Go client: popen's child is reaped by pclose; the servers only at exit).
double cpuSeconds(int who) {
  rusage ru{};
  ::getrusage(who, &ru);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Pair {
  const char* name;
  bool ourClient;
  const ServerProcess* server;
};

struct Runs {
  std::vector<double> callsPerSec, p50us, p99us, clientCpuUsPerCall, serverCpuUsPerCall;
};

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2.0;
  int rounds = 3;
  std::string only;  // profiling: run only the rows whose name contains this (and skip the rest)
  std::vector<int> callerCounts = {1, 16, 64};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--smoke") {
      seconds = 0.1;
      rounds = 1;
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::stod(argv[++i]);
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::stoi(argv[++i]);
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (a == "--callers" && i + 1 < argc) {
      callerCounts = {std::stoi(argv[++i])};
    } else {
      std::fprintf(stderr,
                   "usage: bench_ttrpc [--smoke] [--seconds S] [--rounds R] [--only ROW] "
                   "[--callers N]\n");
      return 2;
    }
  }
  pp::log::setLevel(pp::log::Level::kError);
  std::string dir = "/tmp/bench-ttrpc-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::map<std::pair<size_t, int>, Runs> results;  // (pair, callers)
  auto wanted = [&](std::string_view name) { return name.find(only) != std::string_view::npos; };
  std::vector<Pair> pairs;
  Runs floor;
  {
    ServerProcess floorServer(PP_FLOOR_SERVER, dir + "/floor.sock");
    ServerProcess ours(PP_CPP_SERVER, dir + "/ours.sock");
    ServerProcess go(PP_GO_SERVER, dir + "/go.sock");
    pairs = {{"ours -> ours", true, &ours},
             {"go   -> go", false, &go},
             {"ours -> go", true, &go},
             {"go   -> ours", false, &ours}};
    for (int r = 0; r < rounds; ++r) {
      if (wanted("floor (echo)")) {
        double cpu0 = floorServer.cpuSeconds(), clientCpu0 = cpuSeconds(RUSAGE_SELF);
        Sample s = runFloorClient(floorServer.socket(), seconds);
        double cpu = floorServer.cpuSeconds() - cpu0,
               clientCpu = cpuSeconds(RUSAGE_SELF) - clientCpu0;
        floor.callsPerSec.push_back(s.callsPerSec);
        floor.p50us.push_back(s.p50us);
        floor.p99us.push_back(s.p99us);
        floor.clientCpuUsPerCall.push_back(s.calls > 0 ? clientCpu * 1e6 / s.calls : 0);
        floor.serverCpuUsPerCall.push_back(s.calls > 0 ? cpu * 1e6 / s.calls : 0);
      }
      for (int callers : callerCounts) {
        for (size_t p = 0; p < pairs.size(); ++p) {
          if (!wanted(pairs[p].name)) continue;
          int who = pairs[p].ourClient ? RUSAGE_SELF : RUSAGE_CHILDREN;
          double clientCpu0 = cpuSeconds(who);
          double cpu0 = pairs[p].server->cpuSeconds();
          Sample s = pairs[p].ourClient ? runOurClient(pairs[p].server->socket(), callers, seconds)
                                        : runGoClient(pairs[p].server->socket(), callers, seconds);
          double cpu = pairs[p].server->cpuSeconds() - cpu0;
          double clientCpu = cpuSeconds(who) - clientCpu0;
          auto& res = results[{p, callers}];
          res.callsPerSec.push_back(s.callsPerSec);
          res.p50us.push_back(s.p50us);
          res.p99us.push_back(s.p99us);
          res.clientCpuUsPerCall.push_back(s.calls > 0 ? clientCpu * 1e6 / s.calls : 0);
          res.serverCpuUsPerCall.push_back(s.calls > 0 ? cpu * 1e6 / s.calls : 0);
        }
      }
    }
  }
  std::filesystem::remove_all(dir);

  std::printf(
      "bench_ttrpc: unary Echo (34-byte BytesValue) over a unix socket, one connection per run,\n"
      "%d interleaved round(s) x %.1f s, medians; CPU us per call: client (getrusage), server "
      "(/proc)\n\n",
      rounds, seconds);
  std::printf("%-14s %7s %9s %8s %8s %10s %10s\n", "client->server", "callers", "calls/s", "p50 us",
              "p99 us", "cli us/c", "srv us/c");
  bool ok = true;
  for (double v : floor.callsPerSec) ok &= v > 0;
  Sample floorMed{median(floor.callsPerSec), median(floor.p50us), median(floor.p99us), 0};
  if (wanted("floor (echo)"))
    std::printf("%-14s %7d %9.0f %8.1f %8.1f %10.2f %10.2f\n", "floor (echo)", 1,
                floorMed.callsPerSec, floorMed.p50us, floorMed.p99us,
                median(floor.clientCpuUsPerCall), median(floor.serverCpuUsPerCall));
  std::map<std::pair<size_t, int>, Sample> med;
  for (int callers : callerCounts) {
    for (size_t p = 0; p < pairs.size(); ++p) {
      if (!wanted(pairs[p].name)) continue;
      auto& res = results[{p, callers}];
      for (double v : res.callsPerSec) ok &= v > 0;
      Sample m{median(res.callsPerSec), median(res.p50us), median(res.p99us), 0};
      med[{p, callers}] = m;
      std::printf("%-14s %7d %9.0f %8.1f %8.1f %10.2f %10.2f\n", pairs[p].name, callers,
                  m.callsPerSec, m.p50us, m.p99us, median(res.clientCpuUsPerCall),
                  median(res.serverCpuUsPerCall));
    }
  }
  if (!only.empty()) {  // a profiling run: the rows only, no ratios
    if (!ok) std::fprintf(stderr, "bench_ttrpc: some runs completed no calls or failed\n");
    return ok ? 0 : 1;
  }
  std::printf(
      "\nours->ours vs go->go   (targets: calls/s ratio >= 3.5 at 64 callers, p50 ratio < 1.0 at "
      "1)\n");
  std::printf("%7s %14s %10s\n", "callers", "calls/s ratio", "p50 ratio");
  for (int callers : callerCounts) {
    auto o = med[{0, callers}], g = med[{1, callers}];
    const double calls = g.callsPerSec > 0 ? o.callsPerSec / g.callsPerSec : 0.0;
    const double p50 = g.p50us > 0 ? o.p50us / g.p50us : 0.0;
    const char* verdict = "";
    if (callers == 1) verdict = p50 < 1.0 ? "  p50 target met" : "  p50 target MISSED";
    if (callers == 64) verdict = calls >= 3.5 ? "  calls/s target met" : "  calls/s target MISSED";
    std::printf("%7d %14.2f %10.2f%s\n", callers, calls, p50, verdict);
  }
  std::printf(
      "\n1 caller against the floor (a blocking echo of the same frames; target: ours->ours "
      "p50 ratio <= 1.2)\n");
  std::printf("%-14s %10s %14s\n", "client->server", "p50 ratio", "calls/s ratio");
  for (size_t p = 0; p < pairs.size(); ++p) {
    auto m = med[{p, 1}];
    const double p50 = floorMed.p50us > 0 ? m.p50us / floorMed.p50us : 0.0;
    std::printf("%-14s %10.2f %14.2f%s\n", pairs[p].name, p50,
                floorMed.callsPerSec > 0 ? m.callsPerSec / floorMed.callsPerSec : 0.0,
                p == 0 ? (p50 <= 1.2 ? "  target met" : "  target MISSED") : "");
  }
  if (!ok) std::fprintf(stderr, "bench_ttrpc: some runs completed no calls or failed\n");
  return ok ? 0 : 1;
}
