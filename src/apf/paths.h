// The host-to-VM contract's files: what the adaptor puts in a pod VM's user data (cloud-config
// write_files) and where process-user-data and the forwarder find it in the VM. The names are
// upstream's (pkg/paths and pkg/userdata), so either side can be upstream's.
#pragma once

#include <array>
#include <string_view>

namespace pp::apf::paths {

inline constexpr char kPeerpodDir[] = "/run/peerpod";
// forwarder.Config as JSON (apf_config.h).
inline constexpr char kApfJson[] = "/run/peerpod/apf.json";
// The registry credentials of the pod's image pull secrets (kubernetes.io/dockerconfigjson).
inline constexpr char kAuthJson[] = "/run/peerpod/auth.json";
// The pod's initdata TOML (from the cc_init_data annotation) and its digest, which the VM
// attests.
inline constexpr char kInitdata[] = "/run/peerpod/initdata";
inline constexpr char kInitdataDigest[] = "/run/peerpod/initdata.digest";
// Present when the adaptor was started with -enable-scratch-space (an encrypted scratch disk).
inline constexpr char kScratchSpaceMarker[] = "/run/peerpod/scratch-space.marker";
// The user data file on the cidata device (NoCloud) or where providers put it.
inline constexpr char kUserDataFile[] = "/media/cidata/user-data";

// The write_files entries a pod VM takes from user data (exact paths).
inline constexpr std::array<std::string_view, 4> kUserDataFiles = {kApfJson, kAuthJson, kInitdata,
                                                                   kScratchSpaceMarker};
// Initdata `data` keys written as /run/peerpod/<key>: attestation-agent, confidential-data-hub
// and kata-agent policy configuration.
inline constexpr std::array<std::string_view, 3> kInitdataFiles = {"aa.toml", "cdh.toml",
                                                                   "policy.rego"};

}  // namespace pp::apf::paths
