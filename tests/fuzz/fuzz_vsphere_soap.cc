// vCenter's SOAP answers as the vsphere provider reads them (parseSoapXml: a bounded libxml2
// parse into nodes; the fault and property readers walk these nodes).
//
// Invariants checked, on top of "no crash, no sanitizer report, no timeout": a parsed document
// stays within the limits it was parsed with (depth and node count).
#include <string>

#include "fuzz_check.h"
#include "providers/vsphere/soap_xml.h"

using pp::fuzz::check;
namespace vs = pp::providers::vsphere;

namespace {

size_t countNodes(const vs::SoapNode& n, int depth, int& maxDepth) {
  if (depth > maxDepth) maxDepth = depth;
  size_t total = 1;
  for (const auto& c : n.children) total += countNodes(c, depth + 1, maxDepth);
  return total;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vs::SoapLimits limits;
  limits.maxDepth = 32;
  limits.maxNodes = 5000;
  if (auto doc = vs::parseSoapXml(pp::fuzz::text(data, size), limits)) {
    int depth = 0;
    check(countNodes(*doc, 1, depth) <= limits.maxNodes + 1);
    check(depth <= limits.maxDepth + 1);
    (void)doc->childText("returnval");
    (void)doc->attribute("xsi:type");
  }
  return 0;
}
