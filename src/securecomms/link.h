// One SSH connection and its tunnels, driven by one thread (libssh sessions are not
// thread-safe). Internal to the module.
#pragma once

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "securecomms/keys_internal.h"
#include "securecomms/securecomms.h"

namespace pp::securecomms {

enum class LinkPhase { kAttestation, kKubernetes };
std::string_view linkPhaseName(LinkPhase phase);  // "ATTESTATION" / "KUBERNETES"

// A listening socket of an inbound tag, owned by the SshServer/SshClient, shared by its links.
struct InboundListener {
  Tag tag;
  int fd = -1;
  uint16_t port = 0;
};

// Listens on 127.0.0.1:port (inside /run/netns/<netns> when given) or host:port.
Result<int> listenTcp(const std::string& host, uint16_t port, const std::string& netns);
uint16_t localPort(int fd);
// A non-blocking connect under way (or done); the fd, or the error.
Result<int> startConnect(const std::string& host, uint16_t port);

bool phaseAllows(TagPhase tag, LinkPhase link);

enum class LinkEnd {
  kStopped,          // stop requested
  kPeerGone,         // connection closed or broken, or keep-alive missed
  kUpgraded,         // attestation phase done (client: got UPGRADE; server: sent it, client left)
  kPastAttestation,  // client: the server is in the Kubernetes phase already
  kRefused,          // handshake/phase refused
};

struct SessionFree {
  void operator()(ssh_session s) const {
    ssh_disconnect(s);
    ssh_free(s);
  }
};
using SessionPtr = std::unique_ptr<std::remove_pointer_t<ssh_session>, SessionFree>;

class Link {
 public:
  Link(bool isServer, LinkPhase phase, std::vector<InboundListener*> inbounds,
       std::vector<Tag> outbounds, LinkTiming timing);
  ~Link();

  // Server: set up on an accepted socket. Installs the callbacks, runs the key exchange and
  // authentication (only `allowedClientKey` or, when it is null, anyone).
  Status acceptServer(int fd, ssh_bind bind, ssh_key allowedClientKey);
  // Client: connects (fd already connected), checks the host key (when `expectedHostKey` is not
  // null), authenticates and runs the phase exchange.
  Result<LinkEnd> connectClient(int fd, ssh_key clientKey, ssh_key expectedHostKey);

  // Serves the tunnels until the link ends. Server: `upgradeReady` is polled in the attestation
  // phase; once true, UPGRADE is sent.
  LinkEnd run(std::stop_token stop, std::function<bool()> upgradeReady = {});

  ssh_session session() const { return session_.get(); }

 private:
  struct Tunnel;
  static int onMessage(ssh_session s, ssh_message msg, void* self);
  static int onFd(socket_t fd, int revents, void* self);
  static int onAuthNone(ssh_session, const char*, void* self);
  static int onAuthPubkey(ssh_session, const char*, ssh_key, char state, void* self);
  int handleMessage(ssh_message msg);
  void registerFds(ssh_event ev);
  void unregisterFds(ssh_event ev);
  void acceptInbound(InboundListener& in);
  void progress(Tunnel& t);
  void closeTunnel(Tunnel& t);
  // Reads whole lines from the phase channel; false when the link must end.
  bool readControl(std::vector<std::string>& lines);
  bool writeControl(const std::string& line);

  bool isServer_;
  LinkPhase phase_;
  std::vector<InboundListener*> inbounds_;
  std::vector<Tag> outbounds_;
  LinkTiming timing_;
  SessionPtr session_;
  ssh_key allowedClientKey_ = nullptr;  // not owned
  bool authenticated_ = false;
  ssh_channel pendingControl_ = nullptr;  // server: session channel before its subsystem
  ssh_channel control_ = nullptr;
  std::string controlIn_;
  bool phaseAgreed_ = false;
  bool upgradeSent_ = false;
  std::list<std::unique_ptr<Tunnel>> tunnels_;
  std::map<int, short> revents_;
  std::vector<std::pair<int, short>> registered_;
  ::ssh_server_callbacks_struct serverCallbacks_{};
};

}  // namespace pp::securecomms
