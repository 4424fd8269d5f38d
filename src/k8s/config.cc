// In-cluster and kubeconfig loading (see config.h).
#include "k8s/config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <optional>

#include "base/encoding.h"
#include "base/files.h"
#include "base/strings.h"

namespace pp::k8s {
namespace {

constexpr size_t kMaxKubeconfigBytes = 4u << 20;
constexpr size_t kMaxServiceAccountFileBytes = 1u << 20;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string joinHostPort(const std::string& host, const std::string& port) {
  // An IPv6 address needs brackets in a URL.
  bool v6 = host.find(':') != std::string::npos && !host.starts_with("[");
  return v6 ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

std::string resolve(const std::string& path, const std::string& baseDir) {
  if (path.empty() || path.front() == '/' || baseDir.empty()) return path;
  return baseDir + "/" + path;
}

// The `field` of the entry called `name` in the list `list` (clusters, users, contexts).
std::optional<YAML::Node> findNamed(const YAML::Node& root, const char* list, const char* field,
                                    const std::string& name) {
  const YAML::Node entries = root[list];
  if (!entries || !entries.IsSequence()) return std::nullopt;
  for (const auto& entry : entries) {
    if (entry.IsMap() && entry["name"] && entry["name"].IsScalar() &&
        entry["name"].as<std::string>() == name) {
      YAML::Node inner = entry[field];
      if (inner && inner.IsMap()) return inner;
      return YAML::Node(YAML::NodeType::Map);
    }
  }
  return std::nullopt;
}

std::string str(const YAML::Node& map, const char* key) {
  if (!map || !map.IsMap() || !map[key] || !map[key].IsScalar()) return {};
  return map[key].as<std::string>();
}

Result<std::string> decodeData(const YAML::Node& map, const char* key) {
  std::string text = str(map, key);
  if (text.empty()) return std::string();
  auto decoded = encoding::base64Decode(text);
  if (!decoded) return fail(Code::kInvalidArgument, fmt::format("{} is not valid base64", key));
  return *decoded;
}

}  // namespace

Result<ClientConfig> inClusterConfig(const std::string& saDir) {
  std::string host = env("KUBERNETES_SERVICE_HOST");
  std::string port = env("KUBERNETES_SERVICE_PORT");
  if (host.empty() || port.empty()) {
    return fail(Code::kFailedPrecondition,
                "not running in a Kubernetes cluster: KUBERNETES_SERVICE_HOST and "
                "KUBERNETES_SERVICE_PORT are not set");
  }
  ClientConfig config;
  config.server = "https://" + joinHostPort(host, port);
  config.tokenFile = saDir + "/token";
  auto token = files::readFile(config.tokenFile, kMaxServiceAccountFileBytes);
  if (!token) {
    return fail(Code::kFailedPrecondition,
                "in-cluster configuration: cannot read the service-account token: " +
                    token.error().message);
  }
  config.token = std::string(strings::trim(*token));
  config.caFile = saDir + "/ca.crt";
  if (auto ca = files::readFile(config.caFile, kMaxServiceAccountFileBytes); !ca) {
    return fail(Code::kFailedPrecondition,
                "in-cluster configuration: cannot read the cluster CA: " + ca.error().message);
  }
  if (auto ns = files::readFile(saDir + "/namespace", kMaxServiceAccountFileBytes))
    config.ns = std::string(strings::trim(*ns));
  return config;
}

Result<ClientConfig> kubeconfigFromText(const std::string& text, const std::string& baseDir,
                                        const std::string& context) {
  try {
    YAML::Node root = YAML::Load(text);
    if (!root.IsMap()) return fail(Code::kInvalidArgument, "kubeconfig is not a YAML mapping");
    std::string contextName = context.empty() ? str(root, "current-context") : context;
    if (contextName.empty()) {
      return fail(Code::kInvalidArgument, "kubeconfig has no current-context and none was given");
    }
    auto ctxEntry = findNamed(root, "contexts", "context", contextName);
    if (!ctxEntry) {
      return fail(Code::kInvalidArgument,
                  fmt::format("kubeconfig has no context called \"{}\"", contextName));
    }
    YAML::Node ctx = *ctxEntry;
    std::string clusterName = str(ctx, "cluster");
    auto clusterEntry = findNamed(root, "clusters", "cluster", clusterName);
    if (!clusterEntry) {
      return fail(
          Code::kInvalidArgument,
          fmt::format("kubeconfig context \"{}\" names cluster \"{}\", which is not defined",
                      contextName, clusterName));
    }
    YAML::Node cluster = *clusterEntry;
    ClientConfig config;
    config.server = str(cluster, "server");
    while (!config.server.empty() && config.server.back() == '/') config.server.pop_back();
    if (!config.server.starts_with("https://") && !config.server.starts_with("http://")) {
      return fail(Code::kInvalidArgument,
                  fmt::format("kubeconfig cluster \"{}\" has no http(s) server URL", clusterName));
    }
    config.ns = str(ctx, "namespace");
    config.insecureSkipVerify = str(cluster, "insecure-skip-tls-verify") == "true";
    auto ca = decodeData(cluster, "certificate-authority-data");
    if (!ca) return fail(ca.error().wrap("kubeconfig cluster " + clusterName));
    config.caPem = *ca;
    config.caFile = resolve(str(cluster, "certificate-authority"), baseDir);

    std::string userName = str(ctx, "user");
    if (!userName.empty()) {
      auto userEntry = findNamed(root, "users", "user", userName);
      if (!userEntry) {
        return fail(Code::kInvalidArgument,
                    fmt::format("kubeconfig context \"{}\" names user \"{}\", which is not defined",
                                contextName, userName));
      }
      YAML::Node user = *userEntry;
      if (user["exec"] || user["auth-provider"]) {
        return fail(
            Code::kUnimplemented,
            fmt::format("kubeconfig user \"{}\" uses an exec or auth-provider plugin, which "
                        "is not supported; use a token or a client certificate",
                        userName));
      }
      config.token = str(user, "token");
      config.tokenFile = resolve(str(user, "tokenFile"), baseDir);
      auto cert = decodeData(user, "client-certificate-data");
      auto key = decodeData(user, "client-key-data");
      if (!cert) return fail(cert.error().wrap("kubeconfig user " + userName));
      if (!key) return fail(key.error().wrap("kubeconfig user " + userName));
      config.clientCertPem = *cert;
      config.clientKeyPem = *key;
      config.clientCertFile = resolve(str(user, "client-certificate"), baseDir);
      config.clientKeyFile = resolve(str(user, "client-key"), baseDir);
      if (config.server.starts_with("http://") &&
          (!config.token.empty() || !config.tokenFile.empty())) {
        // A bearer token over plain HTTP is a credential for anyone on the path to the server.
        return fail(
            Code::kInvalidArgument,
            fmt::format("kubeconfig user \"{}\" has a token, but cluster \"{}\" is plain http:// "
                        "({}); a token is only sent over https://",
                        userName, clusterName, config.server));
      }
      bool haveCert = !config.clientCertPem.empty() || !config.clientCertFile.empty();
      bool haveKey = !config.clientKeyPem.empty() || !config.clientKeyFile.empty();
      if (haveCert != haveKey) {
        return fail(Code::kInvalidArgument,
                    fmt::format("kubeconfig user \"{}\" has a client certificate without a key "
                                "or a key without a certificate",
                                userName));
      }
    }
    return config;
  } catch (const YAML::Exception& e) {
    return fail(Code::kInvalidArgument, fmt::format("kubeconfig is not valid YAML: {}", e.what()));
  }
}

Result<ClientConfig> kubeconfigFromFile(const std::string& path, const std::string& context) {
  auto text = files::readFile(path, kMaxKubeconfigBytes);
  if (!text) return fail(text.error().wrap("reading kubeconfig"));
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  auto config = kubeconfigFromText(*text, dir, context);
  if (!config) return fail(config.error().wrap(path));
  return config;
}

Result<ClientConfig> defaultConfig() {
  std::string kubeconfig = env("KUBECONFIG");
  if (!kubeconfig.empty()) return kubeconfigFromFile(kubeconfig.substr(0, kubeconfig.find(':')));
  return inClusterConfig();
}

}  // namespace pp::k8s
