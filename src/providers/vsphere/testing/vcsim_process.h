// govmomi's vCenter simulator (testing/vcsim/main.go) as a child process for the vsphere tests:
// started with a user and password, it answers vim25 SOAP over TLS on 127.0.0.1; commands on its
// stdin ask what it holds (vms, sessions) or change it (ip off/on, terminate-sessions).
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"

namespace pp::providers::vsphere::testing {

inline constexpr char kVcsimUser[] = "peerpods-admin";
inline constexpr char kVcsimPassword[] = "vcsim-Pa55-7f3e91";

class VcsimProcess {
 public:
  VcsimProcess() = default;
  ~VcsimProcess();
  VcsimProcess(const VcsimProcess&) = delete;
  VcsimProcess& operator=(const VcsimProcess&) = delete;

  // Starts PP_VCSIM (built by CMake); an error names scripts/install-deps when it is missing.
  Status start();
  void stop();

  const std::string& url() const { return url_; }
  const std::string& thumbprint() const { return thumbprint_; }

  // One command, its one-line JSON answer.
  Result<nlohmann::json> command(const std::string& line);
  // The VMs made since start (JSON objects, see main.go).
  std::vector<nlohmann::json> vms();
  std::vector<std::string> sessionKeys();

 private:
  Result<std::string> readLine(int timeoutMs);

  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
  std::string buffer_;
  std::string url_, thumbprint_;
};

}  // namespace pp::providers::vsphere::testing
