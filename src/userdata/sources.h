// Where the user data comes from (upstream's pkg/userdata provisioner), one Source per kind, and
// the detection that picks the first one that applies.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "base/error.h"
#include "net/http_client.h"
#include "userdata/userdata.h"

namespace pp::userdata {

using Clock = std::chrono::steady_clock;

class Source {
 public:
  virtual ~Source() = default;
  // For log lines: "file /media/cidata/user-data", "AWS IMDS http://169.254.169.254", ...
  virtual std::string describe() const = 0;
  // One attempt at the raw user-data document (decoded from base64 where the service encodes
  // it), at most kMaxUserDataBytes. The caller retries failures until its deadline.
  virtual Result<std::string> fetch(Clock::time_point deadline) = 0;
};

// Sources copy what they need: they may outlive the Config and HttpClient given here.
std::unique_ptr<Source> makeFileSource(const Config& config);
std::unique_ptr<Source> makeDeviceSource(const Config& config, std::string device,
                                         std::string fsType);
std::unique_ptr<Source> makeAzureSource(const Config& config, const net::HttpClient& http);
std::unique_ptr<Source> makeAwsSource(const Config& config, const net::HttpClient& http);
std::unique_ptr<Source> makeGcpSource(const Config& config, const net::HttpClient& http);
std::unique_ptr<Source> makeAlibabaSource(const Config& config, const net::HttpClient& http);
// vSphere: the guestinfo variables guestinfo.userdata and guestinfo.userdata.encoding (base64 or
// none) that the vsphere provider sets, read with VMware tools' `vmware-rpctool "info-get ..."`.
std::unique_ptr<Source> makeVmwareSource(const Config& config);

// The first source that applies, in upstream's order, or nullptr when none does: the NoCloud
// file, a cidata block device, then the cloud that CPUID and DMI name (Azure: hypervisor
// "Microsoft Hv"; AWS: DMI sys_vendor "Amazon EC2"; GCP: sys_vendor "Google" or product_name
// "Google Compute Engine"; Alibaba: sys_vendor "Alibaba Cloud"; vSphere, last: hypervisor
// "VMwareVMware" or sys_vendor "VMware, Inc."). Local only: no server is asked
// (upstream asks the GCP metadata server whether it is there, so whoever answers is "GCP").
// The deadline is kept for callers; detection does not wait.
std::unique_ptr<Source> detectSource(const Config& config, const net::HttpClient& http,
                                     Clock::time_point deadline);

}  // namespace pp::userdata
