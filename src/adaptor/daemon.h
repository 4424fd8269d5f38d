// The cloud-api-adaptor daemon: wires configuration, provider, TLS material, pod network,
// sandbox manager and the ttrpc services together, and runs them until asked to stop.
#pragma once

#include <memory>
#include <optional>
#include <thread>

#include "adaptor/cert_issuer.h"
#include "adaptor/config.h"
#include "adaptor/hypervisor_service.h"
#include "adaptor/kube_ops.h"
#include "adaptor/pod_network.h"
#include "adaptor/pods_readiness.h"
#include "adaptor/probe.h"
#include "adaptor/sandbox_manager.h"
#include "providers/provider.h"
#include "securecomms/node_side.h"
#include "ttrpc/io_thread.h"
#include "ttrpc/listener.h"
#include "ttrpc/server.h"

namespace pp::adaptor {

class Daemon {
 public:
  Daemon(AdaptorConfig config, std::unique_ptr<providers::Provider> provider);
  ~Daemon();

  // Verifies the config (and the provider's with -cloud-config-verify), reloads saved
  // sandboxes and listens on -socket. Errors say what to fix.
  Status start();
  // Kubernetes API configuration to use instead of $KUBECONFIG / in-cluster (tests).
  void setKubeConfig(k8s::ClientConfig config) { kubeConfig_ = std::move(config); }
  // A pod network to use instead of the VXLAN one (tests; call before start()).
  void setPodNetwork(std::unique_ptr<PodNetwork> network) { network_ = std::move(network); }
  // Graceful: stop listening, close proxies; pod VMs keep running and their state stays.
  void stop();

 private:
  Status startKube();

  AdaptorConfig config_;
  std::unique_ptr<providers::Provider> provider_;
  std::unique_ptr<ttrpc::IoThread> io_;
  std::unique_ptr<ElasticPool> workers_;
  std::unique_ptr<FileStateStore> store_;
  std::unique_ptr<PodNetwork> network_;
  std::unique_ptr<OpensslCertIssuer> issuer_;
  std::unique_ptr<SandboxManager> manager_;
  std::unique_ptr<HypervisorService> service_;
  std::unique_ptr<ttrpc::Server> server_;
  std::unique_ptr<ttrpc::Listener> listener_;
  std::unique_ptr<StartupProbe> probe_;
  std::unique_ptr<net::HttpServer> metricsServer_;
  std::optional<k8s::ClientConfig> kubeConfig_;
  std::shared_ptr<const k8s::Client> kubeClient_;
  std::unique_ptr<KubeOps> kube_;
  std::shared_ptr<PodsReadiness> podsReadiness_;
  // -secure-comms: keys and one SSH client per pod VM (src/securecomms).
  std::shared_ptr<securecomms::NodeSide> secureComms_;
  Status startSecureComms();
  // Retries failed StopVM deletes every kStopRetryInterval (SandboxManager::retryStopping).
  std::jthread stopRetrier_;
  bool stopped_ = false;
};

}  // namespace pp::adaptor
