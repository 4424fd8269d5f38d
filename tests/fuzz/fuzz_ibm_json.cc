// IBM Cloud answers as the ibmcloud (VPC) and ibmcloud-powervs providers read them: VPC
// instances (ibmcloud::parseInstance), PowerVS PVM instances and DHCP servers
// (powervs::parseInstance, parseDhcpServer), each also as the items of a list answer.
//
// Invariants checked, on top of "no crash, no sanitizer report, no timeout": a VPC instance has
// its id; a PVM instance has its id; a DHCP server's leases have an address.
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz_check.h"
#include "providers/ibmcloud-powervs/powervs_client.h"
#include "providers/ibmcloud/vpc_client.h"

using pp::fuzz::check;

namespace {

void resource(const nlohmann::json& j) {
  if (auto i = pp::providers::ibmcloud::parseInstance(j)) check(!i->id.empty());
  if (auto p = pp::providers::powervs::parseInstance(j)) check(!p->id.empty());
  if (auto d = pp::providers::powervs::parseDhcpServer(j)) {
    for (const auto& lease : d->leases) check(lease.ip.size() < (1u << 20));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = nlohmann::json::parse(pp::fuzz::text(data, size), nullptr, false);
  if (j.is_discarded()) return 0;
  resource(j);
  if (j.is_object()) {
    for (const char* list : {"instances", "pvmInstances", "servers", "dhcpServers"}) {
      if (j.contains(list) && j[list].is_array()) {
        for (const auto& item : j[list]) resource(item);
      }
    }
  }
  return 0;
}
