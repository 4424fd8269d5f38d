// chaos-kube-api: the fake Kubernetes API server (tests/fakes/fake_kube_api: finalizers, watch,
// PeerPods) as a process of its own, for scripts/chaos's node rows, where the real adaptor and
// the real peerpod-ctrl talk to it. HTTPS with a CA of its own and a random bearer token (the
// client sends a token over https:// only).
//   chaos-kube-api DIR [NAMESPACE]
// writes into DIR: ca.pem, token, kubeconfig (context namespace NAMESPACE, default
// "confidential-containers-system") and, last, url (the driver waits for it); then serves until
// SIGTERM or SIGINT.
#include <signal.h>

#include <cstdio>
#include <random>
#include <string>

#include "base/encoding.h"
#include "base/files.h"
#include "fake_kube_api.h"
#include "net/tls.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: chaos-kube-api DIR [NAMESPACE]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const std::string ns = argc > 2 ? argv[2] : "confidential-containers-system";
  // The server's threads inherit the mask; the main thread waits for the signal.
  sigset_t stopSet;
  sigemptyset(&stopSet);
  sigaddset(&stopSet, SIGTERM);
  sigaddset(&stopSet, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stopSet, nullptr);

  auto ca = pp::net::CertificateAuthority::create("chaos", "chaos-kube-api-ca");
  if (!ca) {
    std::fprintf(stderr, "chaos-kube-api: CA: %s\n", ca.error().message.c_str());
    return 1;
  }
  auto server = ca->issueServer("127.0.0.1");
  if (!server) {
    std::fprintf(stderr, "chaos-kube-api: certificate: %s\n", server.error().message.c_str());
    return 1;
  }
  auto tls = pp::net::makeServerContext({.certPem = server->certPem, .keyPem = server->keyPem});
  if (!tls) {
    std::fprintf(stderr, "chaos-kube-api: TLS: %s\n", tls.error().message.c_str());
    return 1;
  }
  std::random_device rd;
  char token[33];
  std::snprintf(token, sizeof token, "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
  auto api = pp::fakes::FakeKubeApi::start({.token = token, .tls = *tls});
  const std::string kubeconfig =
      "apiVersion: v1\nkind: Config\ncurrent-context: chaos\n"
      "clusters: [{name: chaos, cluster: {server: '" +
      api->url() + "', certificate-authority-data: " + pp::encoding::base64Encode(ca->certPem()) +
      "}}]\n"
      "contexts: [{name: chaos, context: {cluster: chaos, user: chaos, namespace: " +
      ns +
      "}}]\n"
      "users: [{name: chaos, user: {token: " +
      token + "}}]\n";
  for (auto [name, content, mode] :
       {std::tuple{"ca.pem", ca->certPem(), 0644}, std::tuple{"token", std::string(token), 0600},
        std::tuple{"kubeconfig", kubeconfig, 0600}, std::tuple{"url", api->url() + "\n", 0644}}) {
    if (auto st = pp::files::writeAtomic(dir + "/" + name, content, static_cast<mode_t>(mode));
        !st) {
      std::fprintf(stderr, "chaos-kube-api: writing %s: %s\n", name, st.error().message.c_str());
      return 1;
    }
  }
  std::fprintf(stderr, "chaos-kube-api: serving %s\n", api->url().c_str());
  int sig = 0;
  sigwait(&stopSet, &sig);
  return 0;
}
