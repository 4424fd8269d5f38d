// What kind of machine this is, as upstream's source detection asks it (upstream-core.md
// §4.2): the hypervisor vendor from CPUID leaf 0x40000000 and the SMBIOS system manufacturer
// from /sys/class/dmi/id/sys_vendor.
#pragma once

#include <string>

namespace pp::userdata {

inline constexpr char kHypervisorMicrosoft[] = "Microsoft Hv";  // Azure (Hyper-V)
inline constexpr char kHypervisorKvm[] = "KVMKVMKVM";           // GCP, and KVM in general

// The 12-byte vendor signature without trailing NULs; "" when CPUID reports no hypervisor or
// the CPU is not x86.
std::string cpuidHypervisorVendor();

// /sys/class/dmi/id/sys_vendor under `root`, trimmed; "" when absent.
std::string dmiSystemVendor(const std::string& root);

}  // namespace pp::userdata
