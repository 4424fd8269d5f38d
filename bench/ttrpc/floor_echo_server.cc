// The floor of bench_ttrpc: the least a server can do with a ttrpc frame on a unix socket. It
// reads the 10-byte frame header (length, stream id, type, flags) and the payload, and writes
// the same bytes back, blocking, one thread per connection: no protobuf, no dispatch, no
// coroutines. bench_ttrpc's floor client talks to it with the same frame size as a real Echo
// call, so the difference to the ttrpc rows is what ttrpc itself costs.
//
// Usage: floor-echo-server SOCKET   (stops on SIGTERM)
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

namespace {

bool readFull(int fd, unsigned char* p, size_t n) {
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool writeFull(int fd, const unsigned char* p, size_t n) {
  while (n > 0) {
    ssize_t r = ::write(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

void serve(int fd) {
  std::vector<unsigned char> frame(10);
  for (;;) {
    if (!readFull(fd, frame.data(), 10)) break;
    uint32_t len = (uint32_t{frame[0]} << 24) | (uint32_t{frame[1]} << 16) |
                   (uint32_t{frame[2]} << 8) | uint32_t{frame[3]};
    if (len > (4u << 20)) break;  // ttrpc's own limit
    frame.resize(10 + len);
    if (!readFull(fd, frame.data() + 10, len) || !writeFull(fd, frame.data(), frame.size())) break;
  }
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: floor-echo-server SOCKET\n");
    return 2;
  }
  int l = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (std::strlen(argv[1]) >= sizeof addr.sun_path) return 2;
  std::strcpy(addr.sun_path, argv[1]);
  ::unlink(argv[1]);
  if (l < 0 || ::bind(l, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(l, 64) != 0) {
    std::perror("floor-echo-server");
    return 1;
  }
  for (;;) {
    int fd = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::thread(serve, fd).detach();
  }
}
