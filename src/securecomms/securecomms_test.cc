// In-process SSH pairs on 127.0.0.1: the pod VM's server and the worker node's client, with
// echo servers as the tunnels' targets and a cuttable TCP relay between the two for reconnects.
#include "securecomms/securecomms.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace pp::securecomms {
namespace {

using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// Tags.

TEST(TagTest, ThreeFields) {
  auto t = parseTag("KUBERNETES_PHASE:KATAAGENT:15150");
  ASSERT_TRUE(t) << t.error().toString();
  EXPECT_EQ(t->phase, TagPhase::kKubernetes);
  EXPECT_EQ(t->name, "KATAAGENT");
  EXPECT_EQ(t->hostOrNetns, "");
  EXPECT_EQ(t->port, 15150);
  EXPECT_EQ(t->toString(), "KUBERNETES_PHASE:KATAAGENT:15150");
}

TEST(TagTest, FourFieldsAndEveryPhase) {
  auto a = parseTag("ATTESTATION_PHASE:AA:podns:0");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->phase, TagPhase::kAttestation);
  EXPECT_EQ(a->hostOrNetns, "podns");
  EXPECT_EQ(a->port, 0);
  auto b = parseTag("BOTH_PHASES:KBS:kbs-service.trustee-operator-system:8080");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->phase, TagPhase::kBoth);
  EXPECT_EQ(b->hostOrNetns, "kbs-service.trustee-operator-system");
  EXPECT_EQ(b->port, 8080);
  EXPECT_EQ(b->toString(), "BOTH_PHASES:KBS:kbs-service.trustee-operator-system:8080");
  EXPECT_EQ(parseTag("BOTH_PHASES:X:65535")->port, 65535);
}

TEST(TagTest, RejectsMalformedTags) {
  const char* bad[] = {
      "",
      "KATAAGENT:15150",
      "A:B:C:D:E",
      "kubernetes_phase:KATAAGENT:1",  // phases are case-sensitive
      "SOME_PHASE:KATAAGENT:1",
      "BOTH_PHASES::1",
      "BOTH_PHASES:bad name:1",
      "BOTH_PHASES:X::1",
      "BOTH_PHASES:X:h/st:1",
      "BOTH_PHASES:X:",
      "BOTH_PHASES:X:65536",
      "BOTH_PHASES:X:-1",
      "BOTH_PHASES:X:+1",
      "BOTH_PHASES:X:01",
      "BOTH_PHASES:X:1x",
      "BOTH_PHASES:X:123456",
      "BOTH_PHASES:X:::1:80",  // no IPv6 literals
  };
  for (const char* text : bad) {
    auto t = parseTag(text);
    EXPECT_FALSE(t) << text;
    if (!t) {
      EXPECT_EQ(t.error().code, Code::kInvalidArgument);
      EXPECT_NE(t.error().message.find("secure comms tag"), std::string::npos) << text;
    }
  }
  auto e = parseTag("WRONG:KBS:1");
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("phase 'WRONG'"), std::string::npos);
  EXPECT_FALSE(parseTag(std::string(600, 'A')));
  EXPECT_FALSE(parseTag("BOTH_PHASES:" + std::string(65, 'n') + ":1"));
}

TEST(TagTest, Lists) {
  auto tags = parseTags(" KUBERNETES_PHASE:KATAAGENT:0 ,, BOTH_PHASES:KBS:kbs:8080,");
  ASSERT_TRUE(tags) << tags.error().toString();
  ASSERT_EQ(tags->size(), 2u);
  EXPECT_EQ((*tags)[1].name, "KBS");
  EXPECT_EQ(joinTags(*tags), "KUBERNETES_PHASE:KATAAGENT:0,BOTH_PHASES:KBS:kbs:8080");
  EXPECT_TRUE(parseTags("")->empty());
  auto dup = parseTags("BOTH_PHASES:A:1,KUBERNETES_PHASE:A:2");
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message.find("appears twice"), std::string::npos);
  EXPECT_FALSE(parseTags("BOTH_PHASES:A:1,nonsense"));
}

// ---------------------------------------------------------------------------------------------
// Keys (RSA-2048 in tests to keep them quick; the daemons use 3072/4096).

const KeyPair& keyA() {
  static KeyPair k = *generateRsaKeyPair(2048);
  return k;
}
const KeyPair& keyB() {
  static KeyPair k = *generateRsaKeyPair(2048);
  return k;
}
const KeyPair& keyC() {
  static KeyPair k = *generateRsaKeyPair(2048);
  return k;
}

TEST(KeyTest, GenerateAndDerive) {
  const auto& k = keyA();
  EXPECT_NE(k.privatePem.find("-----BEGIN RSA PRIVATE KEY-----"), std::string::npos);
  EXPECT_EQ(k.publicKey.rfind("ssh-rsa AAAA", 0), 0u);
  auto pub = publicKeyOf(k.privatePem);
  ASSERT_TRUE(pub);
  EXPECT_EQ(*pub, k.publicKey);
  EXPECT_NE(keyA().publicKey, keyB().publicKey);
  EXPECT_EQ(*normalizePublicKey(k.publicKey + " user@host\n"), k.publicKey);
}

TEST(KeyTest, RejectsBadKeys) {
  EXPECT_FALSE(publicKeyOf(""));
  EXPECT_FALSE(
      publicKeyOf("-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n"));
  EXPECT_FALSE(normalizePublicKey("ssh-rsa"));
  EXPECT_FALSE(normalizePublicKey("ssh-rsa not*base64"));
  EXPECT_FALSE(normalizePublicKey("ssh-nonsense AAAA"));
  EXPECT_FALSE(generateRsaKeyPair(512));
}

// ---------------------------------------------------------------------------------------------
// Helpers.

// Echoes with a prefix, so that the test sees which target answered.
class EchoServer {
 public:
  explicit EchoServer(std::string prefix) : prefix_(std::move(prefix)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    listen(fd_, 16);
    socklen_t len = sizeof sa;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    thread_ = std::jthread([this](std::stop_token st) {
      while (!st.stop_requested()) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        int c = accept(fd_, nullptr, nullptr);
        if (c < 0) continue;
        std::lock_guard lock(mu_);
        workers_.emplace_back([this, c](std::stop_token st2) {
          char buf[65536];
          while (!st2.stop_requested()) {
            pollfd q{c, POLLIN, 0};
            if (poll(&q, 1, 100) <= 0) continue;
            ssize_t n = read(c, buf, sizeof buf);
            if (n <= 0) break;
            std::string out = prefix_ + std::string(buf, static_cast<size_t>(n));
            if (write(c, out.data(), out.size()) < 0) break;
          }
          close(c);
        });
      }
    });
  }
  ~EchoServer() {
    thread_.request_stop();
    thread_.join();
    std::lock_guard lock(mu_);
    workers_.clear();
    close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  std::string prefix_;
  int fd_;
  uint16_t port_;
  std::mutex mu_;
  std::vector<std::jthread> workers_;
  std::jthread thread_;
};

// A TCP relay in front of the SSH server whose connections the test can cut (a network that
// drops the link) or freeze (a peer that vanishes without closing TCP).
class Relay {
 public:
  explicit Relay(uint16_t target) : target_(target) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    listen(fd_, 16);
    socklen_t len = sizeof sa;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    thread_ = std::jthread([this](std::stop_token st) { loop(st); });
  }
  ~Relay() {
    thread_.request_stop();
    thread_.join();
    close(fd_);
    cut();
  }
  uint16_t port() const { return port_; }
  void cut() {
    std::lock_guard lock(mu_);
    for (auto& [a, b] : pairs_) {
      shutdown(a, SHUT_RDWR);
      shutdown(b, SHUT_RDWR);
      close(a);
      close(b);
    }
    pairs_.clear();
  }
  void freeze(bool on) { frozen_ = on; }
  int accepted() const { return accepted_; }

 private:
  void loop(std::stop_token st) {
    char buf[65536];
    while (!st.stop_requested()) {
      std::vector<pollfd> fds{{fd_, POLLIN, 0}};
      {
        std::lock_guard lock(mu_);
        if (!frozen_) {
          for (auto& [a, b] : pairs_) {
            fds.push_back({a, POLLIN, 0});
            fds.push_back({b, POLLIN, 0});
          }
        }
      }
      if (poll(fds.data(), fds.size(), 50) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        int a = accept(fd_, nullptr, nullptr);
        int b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sa.sin_port = htons(target_);
        if (a >= 0 && connect(b, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
          std::lock_guard lock(mu_);
          pairs_.push_back({a, b});
          ++accepted_;
        } else {
          if (a >= 0) close(a);
          close(b);
        }
      }
      std::lock_guard lock(mu_);
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        int from = fds[i].fd;
        int to = -1;
        for (auto& [a, b] : pairs_) {
          if (a == from) to = b;
          if (b == from) to = a;
        }
        if (to < 0) continue;
        ssize_t n = read(from, buf, sizeof buf);
        if (n <= 0 || write(to, buf, static_cast<size_t>(n)) != n) {
          shutdown(to, SHUT_RDWR);
          shutdown(from, SHUT_RDWR);
        }
      }
    }
  }
  uint16_t target_;
  int fd_;
  uint16_t port_;
  std::atomic<bool> frozen_{false};
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::vector<std::pair<int, int>> pairs_;
  std::jthread thread_;
};

int connectTo(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends `msg` and reads what comes back within `timeout`; "" on EOF/timeout.
std::string roundTrip(int fd, const std::string& msg, size_t want,
                      std::chrono::milliseconds timeout) {
  if (write(fd, msg.data(), msg.size()) != static_cast<ssize_t>(msg.size())) return "";
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

std::string echoThrough(uint16_t port, const std::string& msg, size_t want,
                        std::chrono::milliseconds timeout = 5s) {
  int fd = connectTo(port);
  if (fd < 0) return "<no connection>";
  std::string got = roundTrip(fd, msg, want, timeout);
  close(fd);
  return got;
}

LinkTiming fastTiming() {
  LinkTiming t;
  t.pingInterval = 200ms;
  t.deadAfter = 1500ms;
  t.handshakeTimeout = 5s;
  t.dialTimeout = 2s;
  return t;
}

struct Pair {
  std::unique_ptr<EchoServer> agent = std::make_unique<EchoServer>("agent:");
  std::unique_ptr<EchoServer> kbs = std::make_unique<EchoServer>("kbs:");
  std::atomic<bool> release{false};
  std::unique_ptr<SshServer> server;
  std::unique_ptr<Relay> relay;
  std::unique_ptr<SshClient> client;

  ServerOptions serverOptions() {
    ServerOptions so;
    so.listenHost = "127.0.0.1";
    so.port = 0;
    so.inbounds = *parseTags("BOTH_PHASES:KBS:0,ATTESTATION_PHASE:ATT:0");
    so.outbounds =
        *parseTags("KUBERNETES_PHASE:KATAAGENT:127.0.0.1:" + std::to_string(agent->port()));
    so.ephemeralKeyBits = 2048;
    so.timing = fastTiming();
    so.fetchKeys = [this](std::stop_token st) -> Result<KubernetesKeys> {
      while (!release && !st.stop_requested()) std::this_thread::sleep_for(10ms);
      if (st.stop_requested()) return fail(Code::kCancelled, "stopped");
      return KubernetesKeys{keyB().privatePem, keyA().publicKey};
    };
    return so;
  }
  ClientOptions clientOptions() {
    ClientOptions co;
    co.host = "127.0.0.1";
    co.port = relay ? relay->port() : server->port();
    co.inbounds = *parseTags("KUBERNETES_PHASE:KATAAGENT:0");
    co.outbounds = *parseTags("BOTH_PHASES:KBS:127.0.0.1:" + std::to_string(kbs->port()) +
                              ",ATTESTATION_PHASE:ATT:127.0.0.1:" + std::to_string(kbs->port()));
    co.clientPrivateKeyPem = keyA().privatePem;
    co.serverPublicKey = keyB().publicKey;
    co.attestationAttempts = 20;
    co.reconnectDelay = 100ms;
    co.reconnectDelayMax = 400ms;
    co.timing = fastTiming();
    return co;
  }
};

TEST(SecureCommsTest, BothPhasesEndToEnd) {
  Pair p;
  auto server = SshServer::start(p.serverOptions());
  ASSERT_TRUE(server) << server.error().toString();
  p.server = std::move(*server);
  auto client = SshClient::start(p.clientOptions());
  ASSERT_TRUE(client) << client.error().toString();
  p.client = std::move(*client);

  // Attestation phase: the pod VM's KBS inbound reaches the node's KBS outbound...
  uint16_t kbsPort = *p.server->inboundPort("KBS");
  EXPECT_EQ(echoThrough(kbsPort, "hello", 9), "kbs:hello");
  uint16_t attPort = *p.server->inboundPort("ATT");
  EXPECT_EQ(echoThrough(attPort, "a", 5), "kbs:a");
  EXPECT_FALSE(p.server->inKubernetesPhase());
  // ... but the agent is not reachable: the connection waits in the listener's backlog.
  uint16_t agentPort = *p.client->inboundPort("KATAAGENT");
  int early = connectTo(agentPort);
  ASSERT_GE(early, 0);
  EXPECT_EQ(roundTrip(early, "early", 11, 500ms), "");
  EXPECT_FALSE(p.client->waitKubernetesPhase(10ms));

  // Keys arrive: Upgrade, Kubernetes phase with the pod VM's key.
  p.release = true;
  ASSERT_TRUE(p.client->waitKubernetesPhase(10s));
  EXPECT_TRUE(p.server->inKubernetesPhase());
  std::string got;
  for (int i = 0; i < 40 && got.size() < 11; ++i) got += roundTrip(early, "", 11, 100ms);
  EXPECT_EQ(got, "agent:early");
  close(early);
  EXPECT_EQ(echoThrough(agentPort, "ping", 10), "agent:ping");
  EXPECT_EQ(echoThrough(kbsPort, "again", 9), "kbs:again");
  // The attestation-only tunnel is closed in the Kubernetes phase.
  EXPECT_EQ(echoThrough(attPort, "x", 5, 700ms), "");

  // Bulk data both ways through one tunnel (flow control).
  int fd = connectTo(agentPort);
  std::string big(3 * 1024 * 1024, 'z');
  std::string answer;
  std::jthread writer([&] {
    size_t off = 0;
    while (off < big.size()) {
      ssize_t n = write(fd, big.data() + off, std::min<size_t>(65536, big.size() - off));
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
  });
  auto deadline = std::chrono::steady_clock::now() + 20s;
  char buf[65536];
  while (answer.size() < big.size() && std::chrono::steady_clock::now() < deadline) {
    pollfd q{fd, POLLIN, 0};
    if (poll(&q, 1, 100) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  writer.join();
  close(fd);
  // The echo prefixes each read it answers; count the payload bytes.
  size_t zs = 0;
  for (char c : answer) zs += c == 'z';
  EXPECT_EQ(zs, big.size());

  // Several tunnels at once.
  std::vector<std::jthread> parallel;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    parallel.emplace_back([&, i] {
      std::string m = "m" + std::to_string(i);
      if (echoThrough(agentPort, m, 6 + m.size()) == "agent:" + m) ++ok;
    });
  }
  parallel.clear();
  EXPECT_EQ(ok.load(), 8);
}

TEST(SecureCommsTest, KeysReadyBeforeTheClientComes) {
  Pair p;
  p.release = true;
  p.server = std::move(*SshServer::start(p.serverOptions()));
  p.client = std::move(*SshClient::start(p.clientOptions()));
  ASSERT_TRUE(p.client->waitKubernetesPhase(10s));
  EXPECT_EQ(echoThrough(*p.client->inboundPort("KATAAGENT"), "k", 7), "agent:k");
}

TEST(SecureCommsTest, ReconnectsTheKubernetesPhase) {
  Pair p;
  p.release = true;
  p.server = std::move(*SshServer::start(p.serverOptions()));
  p.relay = std::make_unique<Relay>(p.server->port());
  p.client = std::move(*SshClient::start(p.clientOptions()));
  ASSERT_TRUE(p.client->waitKubernetesPhase(10s));
  uint16_t agentPort = *p.client->inboundPort("KATAAGENT");
  EXPECT_EQ(echoThrough(agentPort, "one", 9), "agent:one");
  EXPECT_EQ(p.client->kubernetesLinks(), 1);

  // The network drops the connection: the client reconnects, host key checked again.
  p.relay->cut();
  for (int i = 0; i < 100 && p.client->kubernetesLinks() < 2; ++i)
    std::this_thread::sleep_for(50ms);
  EXPECT_EQ(p.client->kubernetesLinks(), 2);
  EXPECT_EQ(echoThrough(agentPort, "two", 9), "agent:two");

  // The peer vanishes without closing TCP: the keep-alive notices and the client reconnects.
  p.relay->freeze(true);
  std::this_thread::sleep_for(fastTiming().deadAfter + 500ms);
  p.relay->cut();
  p.relay->freeze(false);
  for (int i = 0; i < 100 && p.client->kubernetesLinks() < 3; ++i)
    std::this_thread::sleep_for(50ms);
  EXPECT_EQ(p.client->kubernetesLinks(), 3);
  EXPECT_EQ(echoThrough(agentPort, "three", 11), "agent:three");
}

TEST(SecureCommsTest, WrongHostKeyIsRefusedInTheKubernetesPhase) {
  Pair p;
  p.release = true;
  p.server = std::move(*SshServer::start(p.serverOptions()));
  auto co = p.clientOptions();
  co.serverPublicKey = keyC().publicKey;  // not the pod VM's key: a man in the middle
  p.client = std::move(*SshClient::start(co));
  auto st = p.client->waitKubernetesPhase(2s);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Code::kDeadlineExceeded);
  EXPECT_EQ(echoThrough(*p.client->inboundPort("KATAAGENT"), "x", 7, 300ms), "");
}

TEST(SecureCommsTest, WrongClientKeyIsRefusedInTheKubernetesPhase) {
  Pair p;
  p.release = true;
  p.server = std::move(*SshServer::start(p.serverOptions()));
  auto co = p.clientOptions();
  co.clientPrivateKeyPem = keyC().privatePem;  // not the worker node's key
  p.client = std::move(*SshClient::start(co));
  EXPECT_FALSE(p.client->waitKubernetesPhase(2s));
  EXPECT_TRUE(p.server->inKubernetesPhase());  // the attestation phase needs no client key
}

TEST(SecureCommsTest, UnprovenClientKeyGuardsTheAttestationPhase) {
  Pair p;
  auto so = p.serverOptions();
  so.unprovenClientPublicKey = keyC().publicKey;
  p.server = std::move(*SshServer::start(so));
  auto co = p.clientOptions();
  co.attestationAttempts = 3;
  p.client = std::move(*SshClient::start(co));
  auto st = p.client->waitKubernetesPhase(10s);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Code::kUnavailable);
  EXPECT_NE(st.error().message.find("after 3 attempts"), std::string::npos);
  EXPECT_EQ(echoThrough(*p.server->inboundPort("KBS"), "x", 5, 300ms), "");
}

TEST(SecureCommsTest, PeerGoneInTheAttestationPhaseGivesUpAfterTheAttempts) {
  Pair p;
  // Nothing listens there.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  socklen_t len = sizeof sa;
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  uint16_t port = ntohs(sa.sin_port);
  close(fd);
  ClientOptions co;
  co.host = "127.0.0.1";
  co.port = port;
  co.clientPrivateKeyPem = keyA().privatePem;
  co.serverPublicKey = keyB().publicKey;
  co.attestationAttempts = 3;
  co.timing = fastTiming();
  auto client = SshClient::start(co);
  ASSERT_TRUE(client);
  auto st = (*client)->waitKubernetesPhase(5s);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("after 3 attempts"), std::string::npos);
}

TEST(SecureCommsTest, RestartedClientSkipsOrIsToldPastAttestation) {
  Pair p;
  p.release = true;
  p.server = std::move(*SshServer::start(p.serverOptions()));
  p.client = std::move(*SshClient::start(p.clientOptions()));
  ASSERT_TRUE(p.client->waitKubernetesPhase(10s));
  p.client->stop();
  p.client.reset();
  // A new adaptor process that does not know the phase: told, it moves on.
  p.client = std::move(*SshClient::start(p.clientOptions()));
  ASSERT_TRUE(p.client->waitKubernetesPhase(10s));
  EXPECT_EQ(echoThrough(*p.client->inboundPort("KATAAGENT"), "r", 7), "agent:r");
  p.client.reset();
  auto co = p.clientOptions();
  co.skipAttestation = true;
  p.client = std::move(*SshClient::start(co));
  ASSERT_TRUE(p.client->waitKubernetesPhase(10s));
}

TEST(SecureCommsTest, UnknownTunnelNameIsRefused) {
  Pair p;
  p.release = true;
  p.server = std::move(*SshServer::start(p.serverOptions()));
  auto co = p.clientOptions();
  co.inbounds = *parseTags("KUBERNETES_PHASE:KATAAGENT:0,KUBERNETES_PHASE:NOPE:0");
  p.client = std::move(*SshClient::start(co));
  ASSERT_TRUE(p.client->waitKubernetesPhase(10s));
  EXPECT_EQ(echoThrough(*p.client->inboundPort("NOPE"), "x", 7, 1s), "");
  EXPECT_EQ(echoThrough(*p.client->inboundPort("KATAAGENT"), "y", 7), "agent:y");
}

TEST(SecureCommsTest, OutboundTargetDownClosesTheTunnel) {
  Pair p;
  p.release = true;
  auto so = p.serverOptions();
  p.agent.reset();  // KATAAGENT's target is gone
  p.server = std::move(*SshServer::start(so));
  p.client = std::move(*SshClient::start(p.clientOptions()));
  ASSERT_TRUE(p.client->waitKubernetesPhase(10s));
  EXPECT_EQ(echoThrough(*p.client->inboundPort("KATAAGENT"), "x", 7, 2s), "");
  EXPECT_TRUE(p.client->connected());  // the link survives
}

TEST(SecureCommsTest, StartFailsOnBadOptions) {
  ServerOptions so;
  so.listenHost = "not-an-ip";
  so.fetchKeys = [](std::stop_token) -> Result<KubernetesKeys> { return KubernetesKeys{}; };
  EXPECT_FALSE(SshServer::start(so));
  ClientOptions co;
  co.host = "127.0.0.1";
  co.clientPrivateKeyPem = "junk";
  co.serverPublicKey = keyB().publicKey;
  EXPECT_FALSE(SshClient::start(co));
  co.clientPrivateKeyPem = keyA().privatePem;
  co.serverPublicKey = "ssh-rsa";
  EXPECT_FALSE(SshClient::start(co));
  ServerOptions bad;
  bad.port = 0;
  bad.listenHost = "127.0.0.1";
  bad.inbounds = *parseTags("BOTH_PHASES:X:no-such-ns-sc:0");
  bad.fetchKeys = so.fetchKeys;
  auto s = SshServer::start(bad);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("no-such-ns-sc"), std::string::npos);
}

TEST(SecureCommsTest, KeyFetchFailureStopsTheServer) {
  Pair p;
  auto so = p.serverOptions();
  so.fetchKeys = [](std::stop_token) -> Result<KubernetesKeys> {
    return fail(Code::kDeadlineExceeded, "key broker unreachable");
  };
  p.server = std::move(*SshServer::start(so));
  for (int i = 0; i < 100 && !p.server->error(); ++i) std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(p.server->error());
  EXPECT_NE(p.server->error()->message.find("key broker unreachable"), std::string::npos);
}

// Root only: an inbound listener inside a named network namespace (upstream's NETNS field).
TEST(SecureCommsTest, InboundInsideANetworkNamespace) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
  std::string ns = "sc-test-" + std::to_string(getpid());
  ASSERT_EQ(std::system(("ip netns add " + ns + " && ip -n " + ns + " link set lo up").c_str()), 0);
  struct Cleanup {
    std::string ns;
    ~Cleanup() { std::system(("ip netns del " + ns).c_str()); }
  } cleanup{ns};
  Pair p;
  auto so = p.serverOptions();
  so.inbounds = *parseTags("BOTH_PHASES:KBS:" + ns + ":0");
  p.server = std::move(*SshServer::start(so));
  p.client = std::move(*SshClient::start(p.clientOptions()));
  uint16_t port = *p.server->inboundPort("KBS");
  // Not in the daemon's namespace...
  EXPECT_EQ(echoThrough(port, "x", 5, 300ms), "<no connection>");
  // ... but inside the named one.
  std::string got;
  std::thread([&] {
    int nsfd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) return;
    close(nsfd);
    got = echoThrough(port, "inns", 8);
  }).join();
  EXPECT_EQ(got, "kbs:inns");
}

}  // namespace
}  // namespace pp::securecomms
