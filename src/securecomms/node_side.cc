#include "securecomms/node_side.h"

#include "base/encoding.h"
#include "base/files.h"
#include "base/log.h"
#include "securecomms/kbs_proxy.h"

namespace pp::securecomms {
namespace {

constexpr char kLog[] = "securecomms";

class KubeKeyStore final : public KeyStore {
 public:
  KubeKeyStore(std::shared_ptr<const k8s::Client> client, std::string ns)
      : client_(std::move(client)), ns_(std::move(ns)) {}

  Result<std::optional<KeyPair>> get(const std::string& name) override {
    auto secret = client_->get(k8s::resources::kSecrets, ns_, name);
    if (!secret) {
      if (k8s::isNotFound(secret.error())) return std::optional<KeyPair>();
      return fail(secret.error().wrap("reading secret " + ns_ + "/" + name));
    }
    const auto& data = (*secret)["data"];
    if (!data.is_object() || !data.contains("privateKey") || !data["privateKey"].is_string()) {
      return fail(Code::kFailedPrecondition,
                  "secret " + ns_ + "/" + name + " lacks data privateKey");
    }
    // publicKey is optional (kbs-client has none); callers derive it from the private key.
    auto prv = encoding::base64Decode(data["privateKey"].template get<std::string>());
    auto pub = encoding::base64Decode(data.contains("publicKey") && data["publicKey"].is_string()
                                          ? data["publicKey"].template get<std::string>()
                                          : std::string());
    if (!prv || !pub) {
      return fail(Code::kFailedPrecondition, "secret " + ns_ + "/" + name + ": data not base64");
    }
    return std::optional<KeyPair>(KeyPair{*prv, *pub});
  }

  Status create(const std::string& name, const KeyPair& keys) override {
    k8s::Json secret = {{"apiVersion", "v1"},
                        {"kind", "Secret"},
                        {"metadata", {{"name", name}, {"namespace", ns_}}},
                        {"type", "Opaque"},
                        {"data",
                         {{"privateKey", encoding::base64Encode(keys.privatePem)},
                          {"publicKey", encoding::base64Encode(keys.publicKey)}}}};
    auto r = client_->create(k8s::resources::kSecrets, ns_, secret);
    if (!r) return fail(r.error().wrap("creating secret " + ns_ + "/" + name));
    return {};
  }

  Status remove(const std::string& name) override {
    auto r = client_->remove(k8s::resources::kSecrets, ns_, name);
    if (!r && !k8s::isNotFound(r.error())) {
      return fail(r.error().wrap("deleting secret " + ns_ + "/" + name));
    }
    return {};
  }

 private:
  std::shared_ptr<const k8s::Client> client_;
  std::string ns_;
};

class FileKeyStore final : public KeyStore {
 public:
  explicit FileKeyStore(std::string dir) : dir_(std::move(dir)) {}

  Result<std::optional<KeyPair>> get(const std::string& name) override {
    auto prv = files::readFile(path(name, "key"), 64 * 1024);
    if (!prv) {
      if (prv.error().code == Code::kNotFound) return std::optional<KeyPair>();
      return fail(prv.error());
    }
    auto pub = files::readFile(path(name, "pub"), 16 * 1024);
    return std::optional<KeyPair>(KeyPair{*prv, pub ? *pub : std::string()});
  }
  Status create(const std::string& name, const KeyPair& keys) override {
    if (auto st = files::makeDirs(dir_, 0700); !st) return st;
    if (auto st = files::writeAtomic(path(name, "pub"), keys.publicKey, 0600); !st) return st;
    return files::writeAtomic(path(name, "key"), keys.privatePem, 0600);
  }
  Status remove(const std::string& name) override {
    if (auto st = files::removeAll(path(name, "key")); !st) return st;
    return files::removeAll(path(name, "pub"));
  }

 private:
  std::string path(const std::string& name, const char* ext) const {
    return dir_ + "/" + name + "." + ext;
  }
  std::string dir_;
};

// An SSH client that owns its KBS tunnel's proxy.
class ClientWithProxy final : public SshClient {
 public:
  ClientWithProxy(std::unique_ptr<SshClient> client, std::unique_ptr<KbsRewriteProxy> proxy)
      : client_(std::move(client)), proxy_(std::move(proxy)) {}
  ~ClientWithProxy() override { stop(); }
  std::optional<uint16_t> inboundPort(const std::string& name) const override {
    return client_->inboundPort(name);
  }
  Status waitKubernetesPhase(std::chrono::milliseconds timeout) override {
    return client_->waitKubernetesPhase(timeout);
  }
  bool connected() const override { return client_->connected(); }
  int kubernetesLinks() const override { return client_->kubernetesLinks(); }
  void stop() override {
    client_->stop();
    proxy_->stop();
  }

 private:
  std::unique_ptr<SshClient> client_;
  std::unique_ptr<KbsRewriteProxy> proxy_;
};

}  // namespace

std::unique_ptr<KeyStore> kubeKeyStore(std::shared_ptr<const k8s::Client> client, std::string ns) {
  return std::make_unique<KubeKeyStore>(std::move(client), std::move(ns));
}

std::unique_ptr<KeyStore> fileKeyStore(std::string dir) {
  return std::make_unique<FileKeyStore>(std::move(dir));
}

Result<KeyPair> getOrCreateKeyPair(KeyStore& store, const std::string& name, int bits) {
  auto existing = store.get(name);
  if (!existing) return fail(existing.error());
  if (*existing) {
    auto& k = **existing;
    auto pub = publicKeyOf(k.privatePem);
    if (!pub) return fail(pub.error().wrap("key pair " + name));
    k.publicKey = *pub;  // derived, so a hand-edited publicKey cannot disagree
    return k;
  }
  auto keys = generateRsaKeyPair(bits);
  if (!keys) return fail(keys.error());
  if (auto st = store.create(name, *keys); !st) {
    if (st.error().code != Code::kAlreadyExists) return fail(st.error());
    return getOrCreateKeyPair(store, name, bits);  // another adaptor made it first
  }
  log::info(kLog, "created key pair {}", name);
  return keys;
}

NodeSide::NodeSide(NodeSideOptions options, std::unique_ptr<KeyStore> store, KeyPair node,
                   std::vector<Tag> inbounds, std::vector<Tag> outbounds)
    : options_(std::move(options)),
      store_(std::move(store)),
      node_(std::move(node)),
      inbounds_(std::move(inbounds)),
      outbounds_(std::move(outbounds)) {}

Result<std::unique_ptr<NodeSide>> NodeSide::create(NodeSideOptions options,
                                                   std::unique_ptr<KeyStore> store) {
  // Upstream's words: its e2e suite looks for "Using PP SecureComms" in the adaptor's log.
  log::info(kLog, "Using PP SecureComms: InitSshClient version {}", kVersion);
  std::string in = fmt::format("KUBERNETES_PHASE:{}:0", kAgentTunnel);
  if (!options.inbounds.empty()) in += "," + options.inbounds;
  auto inbounds = parseTags(in);
  if (!inbounds) return fail(inbounds.error().wrap("-secure-comms-inbounds"));
  std::string kbs = options.kbsAddress;
  size_t colon = kbs.rfind(':');
  if (colon == std::string::npos) {
    return fail(Code::kInvalidArgument, "-secure-comms-kbs '" + kbs + "': want host:port");
  }
  // The KBS outbound (Trustee mode only, as upstream) is added per sandbox in connect(): it
  // leads to that sandbox's rewriting proxy. Checked here with the broker's address.
  auto kbsTag = parseTag(
      fmt::format("BOTH_PHASES:{}:{}:{}", kKbsTunnel, kbs.substr(0, colon), kbs.substr(colon + 1)));
  if (!kbsTag) return fail(kbsTag.error().wrap("-secure-comms-kbs"));
  auto outbounds = parseTags(options.outbounds);
  if (!outbounds) return fail(outbounds.error().wrap("-secure-comms-outbounds/-secure-comms-kbs"));
  if (auto t = parseTags(options.ppInbounds); !t)
    return fail(t.error().wrap("-secure-comms-pp-inbounds"));
  if (auto t = parseTags(options.ppOutbounds); !t)
    return fail(t.error().wrap("-secure-comms-pp-outbounds"));
  for (const auto& t : *outbounds) {
    if (t.name == kKbsTunnel) {
      return fail(Code::kInvalidArgument,
                  "-secure-comms-outbounds: the tunnel name KBS is the key broker's");
    }
  }
  auto node = getOrCreateKeyPair(*store, kNodeSecretName, options.keyBits);
  if (!node) return fail(node.error().wrap("the worker node's SSH key"));
  std::unique_ptr<KbsAdminClient> kbsAdmin;
  if (!options.noTrustee) {
    auto admin = store->get(kKbsClientSecretName);
    if (!admin) return fail(admin.error().wrap("the key broker's admin key"));
    if (!*admin) {
      return fail(Code::kFailedPrecondition,
                  std::string("secure comms with Trustee needs the secret ") +
                      kKbsClientSecretName +
                      " (data privateKey: the key broker's Ed25519 admin key)");
    }
    kbsAdmin = std::make_unique<KbsAdminClient>(options.kbsAddress, (*admin)->privatePem);
    if (auto st =
            kbsAdmin->postResource(std::string("default/") + kWnPublicKeyName, node->publicKey);
        !st) {
      return fail(st.error().wrap("registering the worker node's public key"));
    }
    log::info(kLog, "Updating KBS with secret for: default/{}", kWnPublicKeyName);
  }
  auto side =
      std::unique_ptr<NodeSide>(new NodeSide(std::move(options), std::move(store), std::move(*node),
                                             std::move(*inbounds), std::move(*outbounds)));
  side->kbs_ = std::move(kbsAdmin);
  side->kbsHost_ = kbsTag->hostOrNetns;
  side->kbsPort_ = kbsTag->port;
  return side;
}

Status NodeSide::prepareApf(const std::string& sandboxId, apf::ApfConfig& apf) {
  auto pp = getOrCreateKeyPair(*store_, sandboxSecretName(sandboxId), options_.keyBits);
  if (!pp) return fail(pp.error().wrap("the pod VM's SSH key"));
  if (kbs_) {
    std::string path = "default/" + sandboxSecretName(sandboxId) + "/privateKey";
    if (auto st = kbs_->postResource(path, pp->privatePem); !st) return st;
    log::info(kLog, "Updating KBS with secret for: {}", path);
    return {};
  }
  apf.secureComms = true;
  apf.ppPrivateKey = pp->privatePem;
  apf.wnPublicKey = node_.publicKey;
  apf.secureCommsInbounds = options_.ppInbounds;
  apf.secureCommsOutbounds = options_.ppOutbounds;
  return {};
}

Result<std::unique_ptr<SshClient>> NodeSide::connect(const std::string& sandboxId,
                                                     const std::string& vmHost, bool restored) {
  auto pp = store_->get(sandboxSecretName(sandboxId));
  if (!pp) return fail(pp.error());
  if (!*pp) {
    return fail(Code::kFailedPrecondition,
                "no key pair " + sandboxSecretName(sandboxId) + " for the pod VM's host key");
  }
  auto hostKey = publicKeyOf((*pp)->privatePem);
  if (!hostKey) return fail(hostKey.error().wrap(sandboxSecretName(sandboxId)));
  ClientOptions co;
  co.host = vmHost;
  co.port = options_.sshPort;
  co.inbounds = inbounds_;
  co.outbounds = outbounds_;
  co.clientPrivateKeyPem = node_.privatePem;
  co.serverPublicKey = *hostKey;
  co.skipAttestation = restored;
  co.timing = options_.timing;
  if (!kbs_) return SshClient::start(std::move(co));
  auto proxy = KbsRewriteProxy::start(sandboxId, kbsHost_, kbsPort_);
  if (!proxy) return fail(proxy.error());
  co.outbounds.push_back(Tag{TagPhase::kBoth, kKbsTunnel, "127.0.0.1", (*proxy)->port()});
  auto client = SshClient::start(std::move(co));
  if (!client) return fail(client.error());
  return std::unique_ptr<SshClient>(new ClientWithProxy(std::move(*client), std::move(*proxy)));
}

Status NodeSide::forget(const std::string& sandboxId) {
  return store_->remove(sandboxSecretName(sandboxId));
}

}  // namespace pp::securecomms
