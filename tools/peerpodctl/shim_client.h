// ShimClient plays the Kata shim against a running cloud-api-adaptor: the hypervisor calls on
// the adaptor's socket (a new connection per call, as the Go shim) and the agent calls on the
// sandbox's agent.ttrpc (one long-lived connection). Blocking API; used by peerpodctl, the e2e
// tests and bench/podstart.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "ttrpc/client.h"
#include "ttrpc/io_thread.h"

namespace pp::peerpodctl {

struct PodOptions {
  std::string podName = "peerpodctl";
  std::string podNamespace = "default";
  std::string image;         // io.katacontainers.config.hypervisor.image
  std::string instanceType;  // ...machine_type
  uint32_t vcpus = 0;
  uint32_t memoryMiB = 0;
  std::string netnsPath;  // the pod's network namespace on the node ("" = none)
};

struct ProcessSpec {
  std::vector<std::string> args;
  std::vector<std::string> env = {
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  std::string cwd = "/";
};

class ShimClient {
 public:
  explicit ShimClient(std::string hypervisorSocket);
  ~ShimClient();

  static std::string newSandboxId();

  Result<std::string> createVM(const std::string& id, const PodOptions& pod);  // -> agent socket
  Status startVM(const std::string& id, std::chrono::seconds timeout = std::chrono::seconds(600));
  Status stopVM(const std::string& id);

  // Dials agent.ttrpc, retrying like the shim's RemoteSockDialer.
  Status connectAgent(const std::string& agentSocket,
                      std::chrono::seconds timeout = std::chrono::seconds(30));
  Status healthCheck();
  Status createSandbox(const std::string& sandboxId, const std::string& hostname);
  Status createContainer(const std::string& containerId, const ProcessSpec& process);
  Status startContainer(const std::string& containerId);
  Status execProcess(const std::string& containerId, const std::string& execId,
                     const ProcessSpec& process);
  // Streams stdout/stderr to the callbacks until the process exits; returns its exit status.
  Result<int> waitWithOutput(const std::string& containerId, const std::string& execId,
                             const std::function<void(std::string_view)>& onStdout,
                             const std::function<void(std::string_view)>& onStderr);
  Status removeContainer(const std::string& containerId);
  Status destroySandbox();

  // Raw agent call, for tools and tests.
  Result<std::string> agentCall(const std::string& service, const std::string& method,
                                const std::string& payload, std::chrono::seconds timeout);

 private:
  template <typename Resp, typename Req>
  Result<Resp> hypervisorCall(const std::string& method, const Req& req,
                              std::chrono::seconds timeout);

  std::string socket_;
  ttrpc::IoThread io_;
  std::shared_ptr<ttrpc::Client> agent_;
};

}  // namespace pp::peerpodctl
