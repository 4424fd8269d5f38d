// The docker provider: each pod "VM" is a container of the pod VM image (NET_ADMIN and
// SYS_ADMIN only, unless -docker-privileged; upstream makes it privileged), with the
// user data bind-mounted at /media/cidata/user-data where process-user-data finds it
// (as upstream's docker provider). Cheapest full-stack environment; no cloud account needed.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "providers/docker/engine_client.h"
#include "providers/provider.h"
#include "providers/tags.h"

namespace pp::providers::docker {

struct DockerConfig {
  std::string dockerHost;
  std::string apiVersion;
  std::string certPath;
  bool tlsVerify = false;
  std::string podvmImage;
  std::string networkName;
  std::string dataDir;
  bool privileged = false;  // ours: -docker-privileged (upstream always runs them privileged)
};

class DockerProvider final : public Provider {
 public:
  static Result<std::unique_ptr<Provider>> create(const DockerConfig& config);

  Result<Instance> createInstance(const CreateRequest& request) override;
  Status deleteInstance(const std::string& id) override;
  Status verifyConfig() override;
  Result<std::vector<Instance>> listInstances(const std::string& tag) override;
  // The container runs on the node's Docker: an image from a pod annotation gets node
  // capabilities, so only -podvm-docker-image is taken without -allowed-images.
  bool acceptsUnlistedImage(const std::string& image) const override {
    return image == config_.podvmImage;
  }

 private:
  DockerProvider(DockerConfig config, EngineClient engine)
      : config_(std::move(config)), engine_(std::move(engine)) {}
  Result<Instance> inspect(const std::string& id, const std::string& name);

  DockerConfig config_;
  EngineClient engine_;
};

}  // namespace pp::providers::docker
