// ttrpc-cpp-server SOCKET: our ttrpc server with the interop services, in its own process (the
// benchmark compares it with the Go server, each in a process of its own).
#include <signal.h>

#include <cstdio>
#include <thread>

#include "peer_services.h"
#include "ttrpc/io_thread.h"
#include "ttrpc/listener.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: ttrpc-cpp-server SOCKET\n");
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  pp::ttrpc::Server server;
  pp::interop::registerPeerServices(server);
  asio::io_context io(1);
  auto l = pp::ttrpc::listenUnix(
      io.get_executor(), argv[1],
      [&](std::unique_ptr<pp::ttrpc::ByteStream> s) { server.serveConnection(std::move(s)); });
  if (!l) {
    std::fprintf(stderr, "%s\n", l.error().message.c_str());
    return 1;
  }
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&set, &sig);
    io.stop();
  });
  std::printf("ready\n");
  std::fflush(stdout);
  io.run();
  stopper.join();
  return 0;
}
