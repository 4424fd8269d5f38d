// What kind of machine this is, as upstream's pkg/userdata asks it to choose a source: the
// hypervisor vendor from CPUID leaf 0x40000000 and the SMBIOS system manufacturer
// and product name from /sys/class/dmi/id/{sys_vendor,product_name}.
#pragma once

#include <string>

namespace pp::userdata {

inline constexpr char kHypervisorMicrosoft[] = "Microsoft Hv";  // Azure (Hyper-V)
inline constexpr char kHypervisorKvm[] = "KVMKVMKVM";           // GCP, and KVM in general
inline constexpr char kHypervisorVmware[] = "VMwareVMware";     // vSphere (ESXi)

// The 12-byte vendor signature without trailing NULs; "" when CPUID reports no hypervisor or
// the CPU is not x86.
std::string cpuidHypervisorVendor();

// SMBIOS values as the clouds set them (sys_vendor / product_name).
inline constexpr char kDmiVendorAws[] = "Amazon EC2";
inline constexpr char kDmiVendorGoogle[] = "Google";
inline constexpr char kDmiProductGce[] = "Google Compute Engine";
inline constexpr char kDmiVendorAlibaba[] = "Alibaba Cloud";
inline constexpr char kDmiVendorVmware[] = "VMware, Inc.";

// /sys/class/dmi/id/sys_vendor under `root`, trimmed; "" when absent.
std::string dmiSystemVendor(const std::string& root);

// /sys/class/dmi/id/product_name under `root`, trimmed; "" when absent.
std::string dmiProductName(const std::string& root);

}  // namespace pp::userdata
