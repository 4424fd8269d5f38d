// Where the Kubernetes API server is and how to authenticate to it: in-cluster configuration
// (service-account token, CA, KUBERNETES_SERVICE_HOST/PORT) and kubeconfig files (the current
// or a named context; bearer tokens, token files, client certificates, CA, insecure mode).
#pragma once

#include <chrono>
#include <string>

#include "base/error.h"

namespace pp::k8s {

struct ClientConfig {
  std::string server;  // "https://10.96.0.1:443"
  // Bearer token. A token file is re-read whenever it changes (projected tokens rotate);
  // when both are set the file wins.
  std::string token;
  std::string tokenFile;
  // Server verification: CA as PEM text or a file; or no verification at all.
  std::string caPem;
  std::string caFile;
  bool insecureSkipVerify = false;
  // Client certificate authentication (PEM text or files).
  std::string clientCertPem, clientKeyPem;
  std::string clientCertFile, clientKeyFile;
  // The namespace this process runs in (service account's, or the context's); "" if unknown.
  std::string ns;
  // Per request (watches have their own, longer, budget).
  std::chrono::milliseconds timeout{30000};
};

inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

// In-cluster configuration from KUBERNETES_SERVICE_HOST/_PORT and the service-account files in
// `saDir` (token, ca.crt, namespace). FAILED_PRECONDITION when not running in a cluster.
Result<ClientConfig> inClusterConfig(const std::string& saDir = kServiceAccountDir);

// Configuration from a kubeconfig file, using `context` or else its current-context. Relative
// file paths in it are resolved against the file's directory, as kubectl does.
Result<ClientConfig> kubeconfigFromFile(const std::string& path, const std::string& context = "");
// The same from kubeconfig text; `baseDir` resolves relative paths.
Result<ClientConfig> kubeconfigFromText(const std::string& text, const std::string& baseDir,
                                        const std::string& context = "");

// $KUBECONFIG (its first entry) when set, else in-cluster.
Result<ClientConfig> defaultConfig();

}  // namespace pp::k8s
