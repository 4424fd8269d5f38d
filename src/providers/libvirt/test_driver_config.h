// A LibvirtConfig for libvirt's test driver (test:///default: the real API, no daemon, state per
// process) with a direct-boot kernel and initrd in a temporary directory; shared by the libvirt
// unit tests and its provider contract instance.
#pragma once

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "providers/libvirt/libvirt_provider.h"

namespace pp::providers::libvirt::testdriver {

struct TestDriverConfig {
  explicit TestDriverConfig(const std::string& name)
      : dir(std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "vmlinuz") << "kernel";
    std::ofstream(dir / "initrd.gz") << "initrd";
    config.uri = "test:///default";
    config.poolName = "default-pool";
    config.networkName = "default";
    config.volName = "podvm-base.qcow2";
    config.cpu = 2;
    config.memoryMiB = 512;
    config.dataDir = dir.string();
    config.domainType = "qemu";
    config.kernel = (dir / "vmlinuz").string();
    config.initrd = (dir / "initrd.gz").string();
    config.cmdline = "console=ttyS0";
    config.ipTimeout = std::chrono::seconds(2);
  }
  ~TestDriverConfig() { std::filesystem::remove_all(dir); }
  TestDriverConfig(const TestDriverConfig&) = delete;
  TestDriverConfig& operator=(const TestDriverConfig&) = delete;

  std::filesystem::path dir;
  LibvirtConfig config;
};

}  // namespace pp::providers::libvirt::testdriver
