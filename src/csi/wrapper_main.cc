#include "csi/wrapper_main.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "base/flags.h"
#include "base/log.h"
#include "base/log_flag.h"
#include "base/signals.h"
#include "build_info.h"
#include "csi/controller_service.h"
#include "csi/identity_service.h"
#include "csi/monitor.h"
#include "csi/node_service.h"
#include "csi/podvm_service.h"

namespace pp::csi {

namespace {

const char* programOf(WrapperKind kind) {
  switch (kind) {
    case WrapperKind::kController:
      return "csi-controller-wrapper";
    case WrapperKind::kNode:
      return "csi-node-wrapper";
    case WrapperKind::kPodVm:
      return "csi-podvm-wrapper";
  }
  return "csi-wrapper";
}

std::string envOr(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

int wrapperMain(WrapperKind kind, int argc, char** argv) {
  const char* program = programOf(kind);
  std::string endpoint, targetEndpoint, ns, vmIdEndpoint, kubeconfig, directVolumesDir;
  int64_t verbosity = 0;
  bool logToStderr = true;
  flags::FlagSet fs(program);
  fs.stringVar(&endpoint, "endpoint", std::string("/csi/") + program + ".sock", "",
               "Unix socket this wrapper serves CSI on (the sidecars' address).");
  fs.stringVar(&targetEndpoint, "target-endpoint", "/csi/csi.sock", "",
               "Unix socket of the vendor's CSI driver.");
  fs.stringVar(&ns, "namespace", "default", "",
               "Namespace of the PeerpodVolume objects (the same for all three wrappers).");
  if (kind == WrapperKind::kNode) {
    fs.stringVar(&vmIdEndpoint, "vm-id-information-endpoint", "/run/peerpod/hypervisor.sock", "",
                 "Unix socket of the adaptor's podvminfo.PodVMInfo service.");
    fs.stringVar(&directVolumesDir, "direct-volumes-dir", kDirectVolumesDir, "",
                 "Kata's direct-volume directory (where the adaptor looks for peer-pod volumes).");
  }
  fs.stringVar(&kubeconfig, "kubeconfig", "", "KUBECONFIG",
               "Path to a kubeconfig; in-cluster configuration when empty.");
  fs.intVar(&verbosity, "v", 0, "", "glog verbosity, as upstream's: 5 and above logs debug.");
  fs.boolVar(&logToStderr, "logtostderr", true, "", "Accepted for compatibility (always true).");
  log::addLogFormatFlag(fs);
  auto parsed = fs.parse(std::vector<std::string>(argv + 1, argv + argc));
  if (!parsed) {
    std::fprintf(stderr, "%s: %s\nRun '%s -help' for the flags.\n", program,
                 parsed.error().message.c_str(), program);
    return 1;
  }
  if (parsed->helpRequested) {
    std::printf("Usage: %s [flags]\n\nFlags (flag > environment variable > default):\n%s", program,
                fs.helpText().c_str());
    return 0;
  }
  if (parsed->versionRequested) {
    std::fputs(build::versionText(program).c_str(), stdout);
    return 0;
  }
  if (!parsed->remaining.empty()) {
    std::fprintf(stderr, "%s: unexpected argument %s\n", program, parsed->remaining[0].c_str());
    return 1;
  }
  if (std::string bad = log::environmentError(); !bad.empty()) {
    std::fprintf(stderr, "%s: %s\n", program, bad.c_str());
    return 1;
  }
  log::setLevel(verbosity >= 5 ? log::Level::kDebug : log::Level::kInfo);

  PodIdentity pod{envOr("POD_NAME"), envOr("POD_NAME_SPACE"), envOr("POD_UID"),
                  envOr("POD_NODE_NAME")};
  if (kind == WrapperKind::kPodVm && pod.uid.empty()) {
    std::fprintf(stderr, "%s: POD_UID is not set (the pod's metadata.uid)\n", program);
    return 1;
  }

  signals::StopSignals stopSignals;
  log::info(program, "{} {} (commit {}) starting", program, build::kVersion, build::kCommit);
  for (const auto& line : fs.dump()) log::info(program, "  {}", line);
  if (kind != WrapperKind::kController) {
    log::info(program, "POD_NAME={} POD_NAME_SPACE={} POD_UID={} POD_NODE_NAME={}", pod.name,
              pod.ns, pod.uid, pod.nodeName);
  }
  auto config = kubeconfig.empty() ? k8s::inClusterConfig() : k8s::kubeconfigFromFile(kubeconfig);
  if (!config) {
    log::error(program, "Kubernetes API configuration: {}", config.error().message);
    return 1;
  }
  auto kube = std::make_shared<const k8s::Client>(*config);
  auto target = std::make_shared<Target>(targetEndpoint);
  auto volumes = std::make_shared<VolumeClient>(kube, ns);

  IdentityService identity(target);
  std::unique_ptr<ControllerService> controller;
  std::unique_ptr<NodeService> node;
  std::unique_ptr<PodVmService> podvm;
  SyncFunction sync;
  switch (kind) {
    case WrapperKind::kController:
      controller = std::make_unique<ControllerService>(target, volumes);
      sync = [s = controller.get()](const Json& v) { return s->sync(v); };
      break;
    case WrapperKind::kNode: {
      DirectVolumes direct(directVolumesDir);
      // Kubelet's own directories are never shared into a peer pod's VM either.
      for (const char* dir : {"/var/lib/kubelet", "/var/data/kubelet"}) {
        if (auto d = direct.add(dir); !d) log::warn(program, "{}", d.error().message);
      }
      node = std::make_unique<NodeService>(
          target, volumes, direct, std::make_shared<PodVmInfoClient>(vmIdEndpoint), pod.nodeName);
      sync = [s = node.get()](const Json& v) { return s->sync(v); };
      break;
    }
    case WrapperKind::kPodVm:
      podvm = std::make_unique<PodVmService>(target, volumes, pod);
      sync = [s = podvm.get()](const Json& v) { return s->sync(v); };
      break;
  }

  std::string socket = socketPath(endpoint);
  std::error_code ec;
  std::filesystem::remove(socket, ec);
  if (auto parent = std::filesystem::path(socket).parent_path(); !parent.empty()) {
    std::filesystem::create_directories(parent, ec);
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + socket, grpc::InsecureServerCredentials());
  builder.RegisterService(&identity);
  if (controller) builder.RegisterService(controller.get());
  if (node) builder.RegisterService(node.get());
  if (podvm) builder.RegisterService(podvm.get());
  auto server = builder.BuildAndStart();
  if (!server) {
    log::error(program, "cannot serve on {}", socket);
    return 1;
  }
  log::info(program, "serving CSI on {}, forwarding to {}", socket, target->path());

  VolumeMonitor monitor(kube, ns, sync);
  monitor.start();

  if (podvm) {
    Result<int> claimed = fail(Code::kUnknown, "not tried");
    for (int attempt = 0; attempt < 10; ++attempt) {
      claimed = podvm->claim();
      if (claimed) break;
      log::warn(program, "{}", claimed.error().message);
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    if (!claimed) {
      log::error(program, "cannot claim the pod's PeerpodVolumes: {}", claimed.error().message);
      server->Shutdown();
      return 1;
    }
    log::info(program, "{} PeerpodVolume(s) of pod {}/{} claimed", *claimed, pod.ns, pod.name);
  }

  std::string why = stopSignals.wait();
  stopSignals.exitOnNext();
  log::info(program, "{}: stopping", why);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  monitor.stop();
  std::filesystem::remove(socket, ec);
  return 0;
}

}  // namespace pp::csi
