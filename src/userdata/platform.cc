// CPUID hypervisor vendor and DMI system vendor (see platform.h).
#include "userdata/platform.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <cstring>

#include "base/files.h"

namespace pp::userdata {

std::string cpuidHypervisorVendor() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  __cpuid(1, a, b, c, d);
  if ((c & (1u << 31)) == 0) return "";  // the "hypervisor present" bit
  __cpuid(0x40000000, a, b, c, d);
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &c, 4);
  std::memcpy(vendor + 8, &d, 4);
  return std::string(vendor);  // stops at the first NUL ("KVMKVMKVM\0\0\0")
#else
  return "";
#endif
}

namespace {

// /sys/class/dmi/id/<name> under `root`, trimmed; "" when absent.
std::string dmiField(const std::string& root, const char* name) {
  std::string path = root;
  while (!path.empty() && path.back() == '/') path.pop_back();
  path += "/sys/class/dmi/id/";
  path += name;
  auto text = files::readFile(path, 4096);
  if (!text) return "";
  std::string v = *text;
  while (!v.empty() &&
         (v.back() == '\n' || v.back() == ' ' || v.back() == '\t' || v.back() == '\r'))
    v.pop_back();
  size_t start = v.find_first_not_of(" \t");
  return start == std::string::npos ? "" : v.substr(start);
}

}  // namespace

std::string dmiSystemVendor(const std::string& root) {
  return dmiField(root, "sys_vendor");
}

std::string dmiProductName(const std::string& root) {
  return dmiField(root, "product_name");
}

}  // namespace pp::userdata
