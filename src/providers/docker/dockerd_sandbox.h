// For tests: a private dockerd in a network namespace made for it, with its bridge on
// 198.18.201.0/24, no iptables changes, its state in a temporary directory, and a busybox
// rootfs imported as the "pod VM" image pp-test-podvm:1. Everything is removed when the object
// goes. Needs root, dockerd and busybox; unavailable() says which is missing.
#pragma once

#include <string>

#include "providers/docker/docker_provider.h"

namespace pp::providers::docker::testing {

class DockerdSandbox {
 public:
  DockerdSandbox() = default;
  DockerdSandbox(const DockerdSandbox&) = delete;
  DockerdSandbox& operator=(const DockerdSandbox&) = delete;
  ~DockerdSandbox();

  // Why this machine cannot run one (a reason to skip); "" when it can.
  static std::string unavailable();
  // Starts the daemon and imports the image: "" on success, else what failed.
  std::string start();

  std::string host() const { return "unix://" + dir_ + "/d.sock"; }
  // A provider configuration for this daemon: its image, the bridge network, data in dir().
  DockerConfig config() const;
  const std::string& dir() const { return dir_; }
  static constexpr char kImage[] = "pp-test-podvm:1";
  static constexpr char kApiVersion[] = "1.41";

 private:
  std::string dir_;
  std::string netns_;
};

}  // namespace pp::providers::docker::testing
