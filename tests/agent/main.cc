// test-agent -listen <unix socket>: the stand-in kata-agent for our tests (see README.md).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "base/flags.h"
#include "base/log.h"
#include "test_agent.h"
#include "ttrpc/io_thread.h"

int main(int argc, char** argv) {
  using namespace pp;
  std::string listen;
  bool debug = false;
  flags::FlagSet fs("test-agent", flags::mapEnv({}));
  fs.stringVar(&listen, "listen", "/run/kata-containers/agent.sock", "",
               "unix socket to serve the agent protocol on");
  fs.boolVar(&debug, "debug", false, "", "log every call");
  auto parsed = fs.parse(std::vector<std::string>(argv + 1, argv + argc));
  if (!parsed) {
    std::fprintf(stderr, "test-agent: %s\n", parsed.error().message.c_str());
    return 1;
  }
  if (parsed->helpRequested) {
    std::printf("Usage: test-agent [flags]\nA stand-in for kata-agent, for tests only.\n\n%s",
                fs.helpText().c_str());
    return 0;
  }
  if (debug) log::setLevel(log::Level::kDebug);

  // SIGTERM/SIGINT are taken by sigwait; children get a clean mask (see child_process.cc).
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  ttrpc::IoThread io;
  auto agent = testagent::TestAgent::create(io.executor());
  auto st = io.run([&]() -> asio::awaitable<Status> { co_return agent->listen(listen); });
  if (!st) {
    log::error("test-agent", "{}", st.error().message);
    return 1;
  }
  log::info("test-agent", "{} serving grpc.AgentService and grpc.Health on {}",
            testagent::kAgentVersion, listen);
  int sig = 0;
  sigwait(&stop, &sig);
  io.run([&]() -> asio::awaitable<void> {
    agent->shutdown();
    co_return;
  });
  ::unlink(listen.c_str());
  return 0;
}
