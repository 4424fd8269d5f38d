// The worker node's secure comms as cloud-api-adaptor runs it (upstream's wnssh): the node's key
// pair (secret `sshclient`, created if absent), a key pair per sandbox (secret `pp-<id>`, deleted
// at StopVM), the keys and tags a new pod VM gets in apf.json (no-Trustee mode), and one SSH
// client per pod VM whose KATAAGENT inbound is where the agent proxy dials.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "apf/apf_config.h"
#include "k8s/client.h"
#include "securecomms/kbs_client.h"
#include "securecomms/securecomms.h"

namespace pp::securecomms {

inline constexpr char kSecretsNamespace[] = "confidential-containers-system";
inline constexpr char kNodeSecretName[] = "sshclient";
inline constexpr char kKbsClientSecretName[] = "kbs-client";

// Where key pairs are kept: Kubernetes secrets (data privateKey, publicKey: upstream's layout),
// or files when the adaptor runs without a Kubernetes API (local tests).
class KeyStore {
 public:
  virtual ~KeyStore() = default;
  virtual Result<std::optional<KeyPair>> get(const std::string& name) = 0;
  // ALREADY_EXISTS when it exists.
  virtual Status create(const std::string& name, const KeyPair& keys) = 0;
  // A missing one is success.
  virtual Status remove(const std::string& name) = 0;
};
std::unique_ptr<KeyStore> kubeKeyStore(std::shared_ptr<const k8s::Client> client,
                                       std::string ns = kSecretsNamespace);
// <dir>/<name>.key and <name>.pub, mode 0600, dir 0700.
std::unique_ptr<KeyStore> fileKeyStore(std::string dir);

// Reads the key pair, or creates it (RSA, `bits`) when absent; a create that races another
// adaptor's takes theirs.
Result<KeyPair> getOrCreateKeyPair(KeyStore& store, const std::string& name, int bits);

struct NodeSideOptions {
  bool noTrustee = true;
  // The adaptor's own tags (-secure-comms-inbounds/-outbounds), added to upstream's fixed ones:
  // inbound KUBERNETES_PHASE:KATAAGENT:0, outbound BOTH_PHASES:KBS:<kbsAddress>.
  std::string inbounds;
  std::string outbounds;
  // Sent to the pod VM in apf.json (-secure-comms-pp-inbounds/-outbounds).
  std::string ppInbounds;
  std::string ppOutbounds;
  std::string kbsAddress = "kbs-service.trustee-operator-system:8080";
  uint16_t sshPort = kSshPort;
  int keyBits = 4096;
  LinkTiming timing;
};

class NodeSide {
 public:
  static Result<std::unique_ptr<NodeSide>> create(NodeSideOptions options,
                                                  std::unique_ptr<KeyStore> store);

  // CreateVM: the sandbox's key pair (secret pp-<id>, created if absent) and, in no-Trustee
  // mode, apf.json's sc, sc-pp-prv, sc-wn-pub, sc-inbounds, sc-outbounds; in Trustee mode the
  // private key goes to the key broker as default/pp-<id>/privateKey instead (the pod VM's
  // forwarder runs with -secure-comms and fetches it once attested).
  Status prepareApf(const std::string& sandboxId, apf::ApfConfig& apf);
  // StartVM or reattach: an SSH client to the pod VM, checking its host key against pp-<id>.
  // Trustee mode: its KBS outbound is a KbsRewriteProxy to the key broker, owned by the client.
  Result<std::unique_ptr<SshClient>> connect(const std::string& sandboxId,
                                             const std::string& vmHost, bool restored);
  // The sandbox is gone (SandboxManager's forgetSandbox hook in the adaptor): deletes pp-<id>.
  Status forget(const std::string& sandboxId);

  const std::string& nodePublicKey() const { return node_.publicKey; }
  static std::string sandboxSecretName(const std::string& sandboxId) { return "pp-" + sandboxId; }

 private:
  NodeSide(NodeSideOptions options, std::unique_ptr<KeyStore> store, KeyPair node,
           std::vector<Tag> inbounds, std::vector<Tag> outbounds);
  // Trustee mode: the key broker's admin API and address.
  std::unique_ptr<KbsAdminClient> kbs_;
  std::string kbsHost_;
  uint16_t kbsPort_ = 0;
  NodeSideOptions options_;
  std::unique_ptr<KeyStore> store_;
  KeyPair node_;
  std::vector<Tag> inbounds_;
  std::vector<Tag> outbounds_;
};

}  // namespace pp::securecomms
