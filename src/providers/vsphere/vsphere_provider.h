// The vsphere provider: a pod VM is a clone of a vCenter template (upstream
// src/cloud-providers/vsphere, removed upstream after b2baaadc). Flags and environment variables
// are upstream's (govc's GOVC_* names); vCenter is called through our own vim25 SOAP client
// (vim_client.h).
//
// Differences from upstream, on purpose (docs/providers/vsphere.md):
// - without -thumbprint the certificate is verified against the system's CAs; verification is
//   off only with -vcenter-insecure (GOVC_INSECURE), never silently;
// - the clone, power-on and destroy tasks are waited on with a deadline (-vcenter-task-timeout),
//   and the guest-address wait (-vcenter-ip-timeout) counts wall-clock time;
// - a create that fails after the clone exists powers it off and destroys it;
// - the sizing annotations (vCPUs, memory) reconfigure the clone before it is powered on, and the
//   image annotation names another template for that pod only;
// - clones carry the io.peerpods.* keys in their extraConfig (from the clone spec on), so orphans
//   can be listed (listInstances);
// - deleting a VM that is gone is success.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "base/flags.h"
#include "providers/provider.h"
#include "providers/vsphere/vim_client.h"

namespace pp::providers::vsphere {

inline constexpr char kUserDataKey[] = "guestinfo.userdata";
inline constexpr char kUserDataEncodingKey[] = "guestinfo.userdata.encoding";

struct VsphereConfig {
  // Upstream's flags.
  std::string userName, password;
  std::string thumbprint;
  std::string vcenterUrl;
  std::string templateName = "podvm-template";
  std::string datacenter;
  std::string datastore;
  std::string deployFolder;
  std::string cluster;
  std::string drs = "false";
  std::string host;
  // Ours.
  bool insecure = false;
  std::chrono::nanoseconds taskTimeout{std::chrono::minutes(10)};
  std::chrono::nanoseconds ipTimeout{std::chrono::minutes(10)};
  std::chrono::nanoseconds keepalive{std::chrono::minutes(1)};
  std::string nodeName;  // io.peerpods.node; from NODE_NAME
};

void registerVsphereFlags(flags::FlagSet& flags, VsphereConfig& config);

// govc's forms of GOVC_URL: "host", "host:port", "https://host", "https://user:pass@host/sdk".
// Returns https://host[:port]/sdk (the path defaults to /sdk) and the user info, if any.
struct VcenterUrl {
  std::string url;
  std::string user, password;
};
Result<VcenterUrl> parseVcenterUrl(const std::string& text);

class VsphereProvider final : public Provider {
 public:
  // Checks the configuration, pins the certificate and connects (RetrieveServiceContent); logs
  // in on first use.
  static Result<std::unique_ptr<VsphereProvider>> create(const VsphereConfig& config,
                                                         net::HttpClient http = {});
  ~VsphereProvider() override;

  Result<Instance> createInstance(const CreateRequest& request) override;
  Status deleteInstance(const std::string& id) override;
  Status teardown() override;
  Status verifyConfig() override;
  Result<std::vector<Instance>> listInstances(const std::string& tag) override;

  VimClient& vim() { return *vim_; }
  const VsphereConfig& config() const { return config_; }

 private:
  struct Placement {
    MoRef datastore, pool, host;
  };
  VsphereProvider(VsphereConfig config, std::unique_ptr<VimClient> vim)
      : config_(std::move(config)), vim_(std::move(vim)) {}
  Result<MoRef> datacenter();
  Result<MoRef> templateVm(const std::string& name);
  Result<MoRef> deployFolder(bool create);
  Result<Placement> placement(const MoRef& templ, const MoRef& folder, const std::string& name);
  Result<MoRef> clone(const MoRef& templ, const MoRef& folder, const std::string& name,
                      const Placement& where, const CreateRequest& request);
  Result<std::string> waitForIpv4(const MoRef& vm);
  Status destroy(const MoRef& vm);
  std::string tagOptions(const CreateRequest& request) const;
  std::string dcPath() const { return "/" + config_.datacenter; }

  VsphereConfig config_;
  std::unique_ptr<VimClient> vim_;
  std::mutex mu_;
  MoRef datacenter_;
};

}  // namespace pp::providers::vsphere
