// process-user-data (upstream's cmd/process-user-data and pkg/userdata): at pod VM boot, fetch the
// user data the adaptor made for this VM, write its whitelisted files into /run/peerpod, then
// unpack initdata into aa.toml / cdh.toml / policy.rego (only from initdata) and write
// initdata.digest.
//
// Sources, first that applies (upstream's order): the NoCloud file /media/cidata/user-data;
// else a block device labelled cidata (mounted read-only here, then unmounted); Azure IMDS
// (CPUID hypervisor "Microsoft Hv"); AWS IMDS (DMI manufacturer "Amazon EC2"; IMDSv2 token,
// no IMDSv1 unless allowed below); GCP metadata at 169.254.169.254 (DMI sys_vendor "Google" or
// product_name "Google Compute Engine"; upstream: CPUID KVM and metadata.google.internal
// answers); Alibaba Cloud metadata (DMI "Alibaba Cloud"). The cloud is detected from the
// machine, never from which address answers. With none, only initdata is processed (IBM Cloud and
// vSphere images let cloud-init write the files).
//
// Test hooks (environment variables read by Config::applyEnvironment; not for production):
//   PEERPODS_USERDATA_ROOT        prefix of every file path below (default "/"): /run/peerpod,
//                                 /media/cidata, /sys/class/dmi/id, /dev, /sys/class/block
//   PEERPODS_USERDATA_AZURE_URL   base URL of Azure IMDS      (http://169.254.169.254)
//   PEERPODS_USERDATA_AWS_URL     base URL of AWS IMDS        (http://169.254.169.254)
//   PEERPODS_USERDATA_GCP_URL     base URL of GCP metadata    (http://169.254.169.254)
//   PEERPODS_USERDATA_ALIBABA_URL base URL of Alibaba metadata (http://100.100.100.200)
//   PEERPODS_USERDATA_HYPERVISOR  CPUID hypervisor vendor to assume ("" for none)
//   PEERPODS_USERDATA_RETRY_DELAY delay between fetch attempts, Go duration (5s)
//   PEERPODS_USERDATA_ATTEMPTS    fetch attempts (10)
// Setting (environment of the process-user-data unit; also honoured in production):
//   PEERPODS_USERDATA_AWS_IMDSV1  "allow": fetch AWS user data without an IMDSv2 session token
//                                 when none can be had (upstream's behaviour, for IMDSv1-only
//                                 endpoints); "deny" (default): a token failure is an error,
//                                 retried like any other.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "apf/paths.h"
#include "base/error.h"
#include "base/flags.h"

namespace pp::userdata {

inline constexpr const char* kPeerpodDir = apf::paths::kPeerpodDir;
inline constexpr const char* kUserDataFile = apf::paths::kUserDataFile;
inline constexpr const char* kInitdataPath = apf::paths::kInitdata;
inline constexpr const char* kDigestPath = apf::paths::kInitdataDigest;

// The only write_files paths written (exact match); everything else is refused and logged.
// Upstream also takes aa.toml and cdh.toml from write_files; we do not (see kInitdataFiles).
inline constexpr const auto& kWriteFilesWhitelist = apf::paths::kUserDataFiles;
// The only initdata `data` keys written, as /run/peerpod/<key>. They configure attestation
// (which key broker, which policy), and the VM attests only initdata's digest, so each of
// these files is exactly what initdata provides: refused from plain write_files, and removed
// when initdata has no such entry (a host that is not trusted must not add one beside the
// owner's genuine initdata).
inline constexpr const auto& kInitdataFiles = apf::paths::kInitdataFiles;

// A user-data document (after base64 decoding) larger than this is refused. Clouds cap user
// data far lower (AWS 16 KiB, Azure 64 KiB, GCP 256 KB).
inline constexpr size_t kMaxUserDataBytes = size_t{1} << 20;
inline constexpr size_t kMaxWriteFiles = 64;

struct Config {
  // -t / --user-data-fetch-timeout: the whole fetch, retries included.
  std::chrono::seconds fetchTimeout{180};
  std::string root = "/";
  std::string azureUrl = "http://169.254.169.254";
  std::string awsUrl = "http://169.254.169.254";
  std::string gcpUrl = "http://169.254.169.254";
  std::string alibabaUrl = "http://100.100.100.200";
  // vSphere: VMware tools' command that reads the VM's guestinfo variables (found in PATH).
  std::string vmwareRpctool = "vmware-rpctool";
  // PEERPODS_USERDATA_AWS_IMDSV1=allow: a plain IMDSv1 GET when no IMDSv2 token can be had.
  bool awsImdsV1Allowed = false;
  // Unset: read CPUID. Set: the vendor string to assume ("" for no hypervisor).
  std::optional<std::string> hypervisorVendor;
  std::chrono::milliseconds retryDelay{5000};
  int attempts = 10;
  // Per HTTP request, capped by the time left.
  std::chrono::milliseconds requestTimeout{10000};

  // Applies the PEERPODS_USERDATA_* variables above; a value that does not parse is an error.
  Status applyEnvironment(const flags::EnvLookup& env);
  // The host path of an absolute pod VM path: root + path.
  std::string hostPath(std::string_view vmPath) const;
};

// Runs `provision-files`. Errors say what failed and what to check; exit 1 on any of them.
Status provisionFiles(const Config& config);

}  // namespace pp::userdata
