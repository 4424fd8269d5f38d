// The pod VM's SSH server: attestation phase with an ephemeral host key until the keys arrive,
// then the Kubernetes phase with the pod VM's key, one link at a time.
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "base/log.h"
#include "securecomms/link.h"

namespace pp::securecomms {
namespace {

constexpr char kLog[] = "securecomms";

struct BindFree {
  void operator()(ssh_bind b) const { ssh_bind_free(b); }
};
using BindPtr = std::unique_ptr<std::remove_pointer_t<ssh_bind>, BindFree>;

Result<BindPtr> makeBind(const std::string& hostKeyPem) {
  auto key = importPrivateKey(hostKeyPem);
  if (!key) return fail(key.error().wrap("host key"));
  BindPtr bind(ssh_bind_new());
  bool no = false;
  ssh_bind_options_set(bind.get(), SSH_BIND_OPTIONS_PROCESS_CONFIG, &no);
  // The bind takes the key over.
  if (ssh_bind_options_set(bind.get(), SSH_BIND_OPTIONS_IMPORT_KEY, key->release()) != SSH_OK) {
    return fail(Code::kInternal, "SSH server: cannot use the host key");
  }
  return bind;
}

class ServerImpl final : public SshServer {
 public:
  explicit ServerImpl(ServerOptions options) : options_(std::move(options)) {}
  ~ServerImpl() override { stop(); }

  Status init() {
    log::info(kLog, "Using PP SecureComms: InitSshServer version {}", kVersion);
    for (const auto& tag : options_.inbounds) {
      auto fd = listenTcp("127.0.0.1", tag.port, tag.hostOrNetns);
      if (!fd) return fail(fd.error().wrap("inbound " + tag.toString()));
      inbounds_.push_back(
          std::make_unique<InboundListener>(InboundListener{tag, *fd, localPort(*fd)}));
    }
    if (!options_.fetchKeys) return fail(Code::kInvalidArgument, "SSH server: no key source");
    if (!options_.unprovenClientPublicKey.empty()) {
      auto key = importPublicKey(options_.unprovenClientPublicKey);
      if (!key) return fail(key.error().wrap("unproven worker node key"));
      unprovenKey_ = std::move(*key);
    }
    auto fd = listenTcp(options_.listenHost, options_.port, "");
    if (!fd) return fail(fd.error().wrap("SSH server"));
    listenFd_ = *fd;
    port_ = localPort(listenFd_);
    log::info(kLog, "SSH service starting on port: {}", port_);
    keyThread_ = std::jthread([this](std::stop_token st) { fetchKeys(st); });
    thread_ = std::jthread([this](std::stop_token st) { serve(st); });
    return {};
  }

  uint16_t port() const override { return port_; }
  std::optional<uint16_t> inboundPort(const std::string& name) const override {
    for (const auto& in : inbounds_)
      if (in->tag.name == name) return in->port;
    return std::nullopt;
  }
  bool inKubernetesPhase() const override { return kubernetes_.load(); }
  std::optional<Error> error() const override {
    std::lock_guard lock(mu_);
    return error_;
  }
  void stop() override {
    keyThread_.request_stop();
    thread_.request_stop();
    if (keyThread_.joinable()) keyThread_.join();
    if (thread_.joinable()) thread_.join();
    for (auto& in : inbounds_) {
      if (in->fd >= 0) close(in->fd);
      in->fd = -1;
    }
    if (listenFd_ >= 0) close(listenFd_);
    listenFd_ = -1;
  }

 private:
  void fetchKeys(std::stop_token st) {
    auto keys = options_.fetchKeys(st);
    std::lock_guard lock(mu_);
    if (!keys) {
      if (!st.stop_requested()) {
        log::error(kLog, "Attestation phase: getting the keys failed: {}", keys.error().message);
        error_ = keys.error();
      }
      return;
    }
    keys_ = std::move(*keys);
    keysReady_ = true;
  }

  // Waits for a connection on the SSH port; -1 when stopping.
  int acceptOne(std::stop_token st) {
    while (!st.stop_requested()) {
      if (error()) return -1;
      pollfd p{listenFd_, POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) continue;
      int fd = accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) return fd;
    }
    return -1;
  }

  std::vector<InboundListener*> inboundPtrs() {
    std::vector<InboundListener*> out;
    for (auto& in : inbounds_) out.push_back(in.get());
    return out;
  }

  void serve(std::stop_token st) {
    // Attestation phase.
    auto ephemeral = generateRsaKeyPair(options_.ephemeralKeyBits);
    if (!ephemeral) {
      setError(ephemeral.error().wrap("Attestation phase: host key"));
      return;
    }
    auto bind = makeBind(ephemeral->privatePem);
    if (!bind) {
      setError(bind.error());
      return;
    }
    log::info(kLog, "Attestation phase: SSH server initialized keys");
    while (!st.stop_requested()) {
      log::info(kLog, "Attestation phase: waiting for client to connect");
      int fd = acceptOne(st);
      if (fd < 0) return;
      Link link(true, LinkPhase::kAttestation, inboundPtrs(), options_.outbounds, options_.timing);
      if (auto ok = link.acceptServer(fd, bind->get(), unprovenKey_.get()); !ok) {
        log::warn(kLog, "Attestation phase: {}", ok.error().message);
        continue;
      }
      auto end = link.run(st, [this] {
        std::lock_guard lock(mu_);
        return keysReady_;
      });
      if (end == LinkEnd::kUpgraded) break;
      if (end == LinkEnd::kStopped) return;
    }
    if (st.stop_requested()) return;
    // Kubernetes phase.
    KubernetesKeys keys;
    {
      std::lock_guard lock(mu_);
      keys = keys_;
    }
    auto kbind = makeBind(keys.hostPrivateKeyPem);
    auto clientKey = importPublicKey(keys.clientPublicKey);
    if (!kbind || !clientKey) {
      setError((!kbind ? kbind.error() : clientKey.error()).wrap("Kubernetes phase keys"));
      return;
    }
    kubernetes_ = true;
    while (!st.stop_requested()) {
      log::info(kLog, "Kubernetes phase: waiting for client to connect");
      int fd = acceptOne(st);
      if (fd < 0) return;
      Link link(true, LinkPhase::kKubernetes, inboundPtrs(), options_.outbounds, options_.timing);
      if (auto ok = link.acceptServer(fd, kbind->get(), clientKey->get()); !ok) {
        log::warn(kLog, "Kubernetes phase: {}", ok.error().message);
        continue;
      }
      auto end = link.run(st);
      log::info(kLog, "Kubernetes phase: link ended");
      if (end == LinkEnd::kStopped) return;
    }
  }

  void setError(Error e) {
    log::error(kLog, "{}", e.message);
    std::lock_guard lock(mu_);
    error_ = std::move(e);
  }

  ServerOptions options_;
  std::vector<std::unique_ptr<InboundListener>> inbounds_;
  SshKeyPtr unprovenKey_;
  int listenFd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> kubernetes_{false};
  mutable std::mutex mu_;
  bool keysReady_ = false;
  KubernetesKeys keys_;
  std::optional<Error> error_;
  std::jthread keyThread_;
  std::jthread thread_;
};

}  // namespace

Result<std::unique_ptr<SshServer>> SshServer::start(ServerOptions options) {
  auto server = std::make_unique<ServerImpl>(std::move(options));
  if (auto ok = server->init(); !ok) return fail(ok.error());
  return std::unique_ptr<SshServer>(std::move(server));
}

}  // namespace pp::securecomms
